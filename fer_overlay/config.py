"""Settings: nested frozen dataclasses read from settings.toml, with command-line overrides on top.

Each field declares the values it accepts (a `Rule`) and a one-line doc next to its
default, so loading, the error messages and the commented template all come from one
place. Errors name the file and the dotted key, and suggest the nearest known name:

    settings.toml: output.fps must be a number between 1 and 60, got "fast"
    settings.toml: unknown key privacy.anonymus (did you mean anonymous?)
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from . import defaults, specs
from .analysis.refresh import DetectionPolicy
from .errors import ConfigError
from .inference.models import EmotionModel, Precision
from .specs import DetectorSpec, ProviderSpec, SinkKind, SinkSpec, SourceKind, SourceSpec, SpecError
from .types import View

if TYPE_CHECKING:
    from .analysis.baseline import BaselineOptions
    from .analysis.pipeline import PipelineOptions, RunningMode
    from .live.engine import EngineOptions
    from .live.insight import InsightOptions
    from .people.identity import IdentityOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

APP_NAME = "fer_overlay"
CONFIG_ENV = "FER_OVERLAY_CONFIG"
FILE_NAME = "settings.toml"


class StudentFeed(str, Enum):
    """What the shared virtual camera may show about students."""

    FULL = "full"  # per-student boxes, names and emotions
    AGGREGATE = "aggregate"  # class-level numbers only


# -- rules: what one setting accepts ------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """`expected` completes "KEY must be ..."; `parse` maps a TOML value to the typed value
    and raises ValueError/TypeError (a ValueError's text is shown as detail); `dump` maps
    the typed value back to a TOML value for the template."""

    expected: str
    parse: Callable[[Any], Any]
    dump: Callable[[Any], Any] = lambda value: value


def _number(lo: float, hi: float, *, above_lo: bool = False) -> Rule:
    """A number in [lo, hi], or (lo, hi] with ``above_lo`` (for a duration that cannot be 0)."""

    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise TypeError
        if above_lo and value == lo:
            raise TypeError
        return float(value)

    expected = f"a number more than {lo:g} and at most {hi:g}" if above_lo else f"a number between {lo:g} and {hi:g}"
    return Rule(expected, parse, lambda v: int(v) if float(v).is_integer() else v)


def _integer(lo: int, hi: int) -> Rule:
    def parse(value: Any) -> int:
        # bool is an int in Python but never a sensible count
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise TypeError
        return value

    return Rule(f"a whole number between {lo} and {hi}", parse)


def _flag() -> Rule:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise TypeError
        return value

    return Rule("true or false", parse)


def _choice(enum: type[Enum]) -> Rule:
    names = [str(m.value) for m in enum]

    def parse(value: Any) -> Enum:
        if not isinstance(value, str):
            raise TypeError
        try:
            return enum(value.lower())
        except ValueError:
            close = _nearest(value.lower(), names)
            raise ValueError(f"did you mean {close}?" if close else "") from None

    return Rule("one of " + ", ".join(json.dumps(n) for n in names), parse, lambda v: v.value)


def _text(expected: str = "a string", check: Callable[[str], str] | None = None) -> Rule:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError
        return check(value) if check else value

    return Rule(expected, parse)


def _text_list(expected: str, check: Callable[[str], str] | None = None) -> Rule:
    def parse(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError
        return tuple(check(v) if check else v for v in value)

    return Rule(expected, parse, list)


def _optional_path() -> Rule:
    def parse(value: Any) -> Path | None:
        if not isinstance(value, str):
            raise TypeError
        return Path(value).expanduser() if value else None

    return Rule('a folder path, or "" for the default', parse, lambda v: str(v) if v else "")


def _size() -> Rule:
    def parse(value: Any) -> tuple[int, int]:
        if not isinstance(value, str):
            raise TypeError
        return tuple(specs.parse_size(value))  # type: ignore[return-value]

    lo, (w, h) = specs.MIN_SIDE, specs.MAX_SIZE
    return Rule(f'"WIDTHxHEIGHT" with even numbers from {lo}x{lo} to {w}x{h}, like "1280x720"', parse,
                lambda v: f"{v[0]}x{v[1]}")


def _spec(expected: str, parse: Callable[[str], object]) -> Rule:
    """A spec setting (source, sink, detector): checked by its grammar in specs.py and kept as
    canonical text (the kind in lower case), so `Monitor:1` and `monitor:1` are one setting."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError
        return str(parse(value))

    return Rule(expected, check)


def _providers() -> Rule:
    def parse(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError
        return tuple(specs.parse_provider(v).name for v in value)

    return Rule("a list of onnxruntime provider names", parse, list)


def _nearest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1)
    return close[0] if close else None


def _hint(word: str, choices: list[str]) -> str:
    """" (did you mean X?)" for the closest choice, or ""."""
    close = _nearest(word, choices)
    return f" (did you mean {close}?)" if close else ""


# -- hotkeys (also used by app/hotkeys.py) ------------------------------------------------

# Names pynput accepts between < and > (its Key enum, aliases included); used when pynput
# cannot be imported here (Linux without a display), so a config still loads and is checked.
HOTKEY_NAMES = frozenset(
    ["alt", "alt_l", "alt_r", "alt_gr", "backspace", "caps_lock", "cmd", "cmd_l", "cmd_r", "ctrl", "ctrl_l",
     "ctrl_r", "delete", "down", "end", "enter", "esc", "home", "insert", "left", "media_next",
     "media_play_pause", "media_previous", "media_volume_down", "media_volume_mute", "media_volume_up", "menu",
     "num_lock", "page_down", "page_up", "pause", "print_screen", "right", "scroll_lock", "shift", "shift_l",
     "shift_r", "space", "tab", "up", *(f"f{i}" for i in range(1, 21))]
)


@functools.cache
def _pynput_parse() -> Callable[[str], object] | None:
    try:
        from pynput.keyboard import HotKey
    except Exception:  # ImportError without a display; anything else from a broken backend
        log.debug("pynput not importable, checking hotkeys without it", exc_info=True)
        return None
    return HotKey.parse


def check_hotkey(combo: str) -> str:
    """Validate a pynput hotkey string like "<ctrl>+<alt>+e"; "" (disabled) is allowed."""
    if not combo:
        return combo
    parts = split_hotkey(combo)
    for part in parts:
        if len(part) > 2 and part[0] == "<" and part[-1] == ">":
            name = part[1:-1].lower()
            if name not in HOTKEY_NAMES and not name.isdigit():
                close = _nearest(name, sorted(HOTKEY_NAMES))
                raise ValueError(f"unknown key {part}" + (f"; did you mean <{close}>?" if close else ""))
        elif len(part) != 1:
            raise ValueError(f"{part!r} is neither one character nor a <name>")
    if len({p.lower() for p in parts}) != len(parts):
        raise ValueError("a key appears twice")
    parse = _pynput_parse()
    if parse is not None:
        try:
            parse(combo)
        except ValueError as exc:
            raise ValueError(f"pynput rejects {exc}") from None
    return combo


def split_hotkey(combo: str) -> list[str]:
    """The parts of "<ctrl>+<alt>+e"; raises ValueError on a trailing "+"."""
    # pynput's rule: '+' separates parts unless it starts a part, so "<ctrl>++" means ctrl and +
    parts, start = [], 0
    for i, c in enumerate(combo):
        if c == "+" and i != start:
            parts.append(combo[start:i])
            start = i + 1
    if start == len(combo):
        raise ValueError("it ends with '+'")
    parts.append(combo[start:])
    return parts


# -- the settings -------------------------------------------------------------------------


def setting(rule: Rule, doc: str) -> dict[str, Any]:
    """Field metadata: what the key accepts and the comment written above it in the template."""
    return {"rule": rule, "doc": doc}


SOURCE_RULE = _spec(f"a source ({specs.SOURCE_FORMS})", specs.parse_source)
SINK_RULE = _spec(f"a sink ({specs.SINK_FORMS})", specs.parse_sink)
DETECTOR_RULE = _spec(f"a detector ({specs.DETECTOR_FORMS})", specs.parse_detector)
HOTKEY_RULE = _text('a hotkey like "<ctrl>+<alt>+e", or "" for none', check_hotkey)


@dataclass(frozen=True)
class CaptureSettings:
    """Where the meeting gallery comes from."""

    source: str = field(default=defaults.SOURCE, metadata=setting(
        SOURCE_RULE, specs.SOURCE_FORMS))


@dataclass(frozen=True)
class OutputSettings:
    """What the virtual camera sends."""

    sink: str = field(default=defaults.SINK, metadata=setting(
        SINK_RULE, specs.SINK_FORMS))
    fps: float = field(default=defaults.FPS, metadata=setting(
        _number(*specs.FPS_RANGE), "frames per second sent to the meeting app"))
    size: tuple[int, int] = field(default=defaults.SIZE, metadata=setting(_size(), "output size, WIDTHxHEIGHT"))
    view: View = field(default=defaults.VIEW, metadata=setting(_choice(View), "gallery | summary | sidebar | off"))
    backend: str = field(default="", metadata=setting(
        _text(), 'virtual camera backend for pyvirtualcam, "" = its default'))


@dataclass(frozen=True)
class AnalysisSettings:
    """How faces are found and read."""

    detection: DetectionPolicy = field(default=DetectionPolicy.CHANGED, metadata=setting(
        _choice(DetectionPolicy), "changed = detect a tile when its picture changed, its face was lost, or its "
        "round-robin turn came, within detect_budget_ms | every_k = every tile every detect_every frames"))
    detect_budget_ms: float = field(default=defaults.DETECT_BUDGET_MS, metadata=setting(
        _number(1, 1000), "detection = changed: detector time per analysed frame, on average"))
    round_robin_s: float = field(default=defaults.ROUND_ROBIN_S, metadata=setting(
        _number(0.1, 60), "detection = changed: every tile is looked at again at least this often (seconds)"))
    detect_every: int = field(default=defaults.DETECT_EVERY, metadata=setting(
        _integer(1, 100), "detection = every_k: run the face detector every N analysed frames and track between"))
    classify_budget_ms: float = field(default=defaults.CLASSIFY_BUDGET_MS, metadata=setting(
        _number(0, 1000), "emotion model time per analysed frame; faces take turns by how stale and how changed "
        "they are; 0 = every face every frame"))
    detector: str = field(default=defaults.DETECTOR, metadata=setting(
        DETECTOR_RULE, "centerface (bundled) | scrfd:PATH to an insightface pack's det_*.onnx you have on disk"))
    providers: tuple[str, ...] = field(default=(), metadata=setting(
        _providers(),
        'onnxruntime providers in order of preference, e.g. ["CUDAExecutionProvider"]; [] = best available'))
    flip_tta: bool = field(default=False, metadata=setting(
        _flag(), "also classify mirrored faces (slower, slightly steadier)"))
    precision: Precision = field(default=Precision.AUTO, metadata=setting(
        _choice(Precision), "emotion model: auto = int8 on the CPU and fp32 on a GPU | fp32 | int8"))
    model: EmotionModel = field(default=EmotionModel.FER2013, metadata=setting(
        _choice(EmotionModel), "emotion network: fer2013 (FER2013's labels) | ferplus (trained on the votes of ten "
        "annotators per face: reads calm faces as calm far more often; models/README.md)"))
    threads: int = field(default=0, metadata=setting(_integer(0, 256), "CPU threads for inference, 0 = automatic"))


@dataclass(frozen=True)
class PrivacySettings:
    """What is shown and kept about students."""

    anonymous: bool = field(default=False, metadata=setting(_flag(), "no names on screen and faces pixelated"))
    student_feed: StudentFeed = field(default=StudentFeed.FULL, metadata=setting(
        _choice(StudentFeed), "full = per-student detail on the shared camera, aggregate = class totals only"))
    opt_out: tuple[str, ...] = field(default=(), metadata=setting(
        _text_list("a list of names"), "students never analysed, by display name"))
    retention_days: int = field(default=30, metadata=setting(_integer(1, 3650), "days to keep session data"))
    record_frames: bool = field(default=False, metadata=setting(
        _flag(), "keep images with the session log (off: numbers only)"))


@dataclass(frozen=True)
class SessionSettings:
    """The per-class log."""

    log: bool = field(default=True, metadata=setting(_flag(), "keep a session log for the after-class report"))
    data_dir: Path | None = field(default=None, metadata=setting(
        _optional_path(), 'where sessions are stored, "" = the user data folder'))
    calibration_minutes: float = field(default=defaults.CALIBRATION_S / 60, metadata=setting(
        _number(0, 60, above_lo=True), "minutes of per-student baseline at the start"))
    attention_after_s: float = field(default=defaults.ATTENTION_AFTER_S, metadata=setting(
        _number(1, 3600), "seconds of low mood before a student is flagged"))

    @property
    def db_path(self) -> Path:
        """The session database, by the one rule every command uses (store.location.locate_db)."""
        from .store.location import locate_db

        return locate_db(data_dir=self.data_dir).path

    @property
    def data_path(self) -> Path:
        return self.db_path.parent


@dataclass(frozen=True)
class HotkeySettings:
    """Global hotkeys, in pynput syntax ("" disables one)."""

    toggle_overlay: str = field(default="<ctrl>+<alt>+e", metadata=setting(HOTKEY_RULE, "show or hide the overlay"))
    cycle_view: str = field(default="<ctrl>+<alt>+v", metadata=setting(
        HOTKEY_RULE, "next view: gallery, summary, sidebar, off"))
    bookmark: str = field(default="<ctrl>+<alt>+b", metadata=setting(
        HOTKEY_RULE, "mark this moment in the session log"))
    calibrate: str = field(default="<ctrl>+<alt>+c", metadata=setting(HOTKEY_RULE, "restart per-student baselines"))

    def bindings(self) -> dict[str, str]:
        """Action name -> combo, without disabled ones."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Settings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    hotkeys: HotkeySettings = field(default_factory=HotkeySettings)

    @classmethod
    def default(cls) -> Settings:
        return cls()

    @classmethod
    def load(cls, path: Path | None = None, overrides: Mapping[str, object] | None = None) -> Settings:
        """Defaults, then the file (`path`, else settings_path()), then `overrides`.

        A missing file at the default location just means defaults; a missing file that
        was asked for by name is an error.
        """
        target = Path(path).expanduser() if path is not None else settings_path()
        settings = cls.default()
        if target.is_file():
            settings = settings.merge(_read_toml(target), origin=str(target))
        elif target.is_dir():
            # even at the default location: a folder there is a mistake to show, not "no settings"
            raise ConfigError(f"{target}: is a folder, not a settings file")
        elif target.exists():
            raise ConfigError(f"{target}: not a regular file (a device or pipe?); give a settings file")
        elif path is not None:
            raise ConfigError(f"{target}: settings file not found")
        else:
            log.debug("no settings file at %s, using defaults", target)
        if overrides:
            settings = settings.with_overrides(overrides)
        return settings

    def merge(self, data: Mapping[str, Any], origin: str) -> Settings:
        """Apply a parsed TOML document; every problem is reported, each on its own line."""
        errors: list[str] = []
        sections = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, table in data.items():
            if name not in sections:
                errors.append(f"{origin}: unknown section [{name}]" + _hint(name, list(sections)))
            elif not isinstance(table, dict):
                errors.append(f"{origin}: {name} must be a table ([{name}] with keys below it), got {_show(table)}")
            else:
                sections[name] = _merge_section(sections[name], name, table, origin, errors)
        if errors:
            raise ConfigError("\n".join(errors))
        return replace(self, **sections)

    def with_overrides(self, overrides: Mapping[str, object], origin: str = "command line") -> Settings:
        """Apply {"section.key": value}. String values are read as TOML literals first, so
        "15" from a command line becomes 15 for output.fps but stays "15" for a text key."""
        data: dict[str, dict[str, Any]] = {}
        errors: list[str] = []
        known = [f"{s.name}.{k.name}" for s in fields(self) for k in fields(getattr(self, s.name))]
        for dotted, value in overrides.items():
            if dotted not in known:
                errors.append(f"{origin}: unknown key {dotted}" + _hint(dotted, known))
                continue
            section, key = dotted.split(".")
            data.setdefault(section, {})[key] = _Literal(value) if isinstance(value, str) else value
        try:
            merged = self.merge(data, origin)
        except ConfigError as exc:
            errors.append(str(exc))
        if errors:
            raise ConfigError("\n".join(errors))
        return merged

    def to_toml(self) -> str:
        """A commented TOML document that loads back to these settings."""
        lines = [
            "# fer-overlay settings. Delete a line to get its default back;",
            "# command-line options override what is set here.",
        ]
        for section_field in fields(self):
            section = getattr(self, section_field.name)
            lines += ["", f"# {type(section).__doc__}", f"[{section_field.name}]"]
            for f in fields(section):
                lines.append(f"# {f.metadata['doc']}")
                lines.append(f"{f.name} = {_toml_value(f.metadata['rule'].dump(getattr(section, f.name)))}")
        return "\n".join(lines) + "\n"


class _Literal(str):
    """A command-line string that may stand for a number, bool or list."""


def _merge_section(section: Any, name: str, table: Mapping[str, Any], origin: str, errors: list[str]) -> Any:
    specs = {f.name: f for f in fields(section)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in specs:
            errors.append(f"{origin}: unknown key {name}.{key}" + _hint(key, list(specs)))
            continue
        rule: Rule = specs[key].metadata["rule"]
        try:
            values[key] = _parse(rule, raw)
        except (TypeError, ValueError) as exc:
            shown = _show(str(raw) if isinstance(raw, _Literal) else raw)
            errors.append(f"{origin}: {name}.{key} must be {rule.expected}, got {shown}{_detail(exc)}")
    return replace(section, **values)


def _detail(exc: Exception) -> str:
    """What a rule's error adds after "got VALUE": a spec's problem alone (the forms are in
    the rule's text already), a ValueError's text, nothing for a bare TypeError."""
    if isinstance(exc, SpecError):
        return f" ({exc.problem})"
    return f" ({exc})" if isinstance(exc, ValueError) and str(exc) else ""


def _parse(rule: Rule, raw: Any) -> Any:
    if not isinstance(raw, _Literal):
        return rule.parse(raw)
    try:
        literal = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return rule.parse(str(raw))
    try:
        return rule.parse(literal)
    except (TypeError, ValueError) as as_literal:
        try:
            return rule.parse(str(raw))  # e.g. a window title that happens to look like a number
        except (TypeError, ValueError) as as_text:
            # Keep the complaint that says something: '["cuda"]' is a list with a bad name in it.
            raise as_literal if isinstance(as_literal, ValueError) and type(as_text) is TypeError else as_text from None


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; any problem is one ConfigError line naming the file (and the place)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a settings file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a BOM (Windows Notepad writes one) is not part of the TOML
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {_not_utf8(data, exc.start)}; save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _not_utf8(data: bytes, at: int) -> str:
    """Where the first byte that is not UTF-8 is, in the terms an editor shows."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "saved as UTF-16, not UTF-8 text"
    line = data.count(b"\n", 0, at) + 1
    column = at - (data.rfind(b"\n", 0, at) + 1) + 1
    return f"not UTF-8 text: byte 0x{data[at]:02x} at line {line}, column {column} (Latin-1 or another encoding?)"


def _show(value: Any) -> str:
    """A value the way it would be written in the TOML file."""
    try:
        return _toml_value(value)
    except TypeError:
        return repr(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value, ensure_ascii=False)  # JSON strings and numbers are valid TOML
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def settings_path() -> Path:
    """$FER_OVERLAY_CONFIG, else settings.toml in the platform's user config folder."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path(APP_NAME) / FILE_NAME


def write_default(path: Path) -> Path:
    """Write the commented template with every default; refuses to overwrite a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as fh:
        fh.write(Settings.default().to_toml())
    return path


# -- the command line's flags for settings ------------------------------------------------


def section_field(key: str) -> Any:
    """The dataclass field of a dotted key ("output.fps"); KeyError for an unknown key."""
    section, _, name = key.partition(".")
    return {f.name: f for f in fields(getattr(Settings.default(), section))}[name]


def cli_value(key: str) -> Callable[[str], Any]:
    """An argparse ``type`` for a flag that overrides ``key``: the setting's own rule checks
    it, so the flag and the settings file accept exactly the same values, and a bad one is
    argparse's one-line "argument --flag: must be ..." error. Returns the value as the
    settings file would write it, ready for :meth:`Settings.with_overrides`."""
    rule: Rule = section_field(key).metadata["rule"]

    def convert(text: str) -> Any:
        try:
            value = _parse(rule, _Literal(text))
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"must be {rule.expected}, got {text!r}{_detail(exc)}") from None
        return rule.dump(value)

    convert.__name__ = key  # argparse names the type in some messages
    return convert


# -- every Options object, built from the settings in one place ---------------------------


@dataclass(frozen=True)
class ModelChoice:
    """What :meth:`GalleryPipeline.create` takes beside its PipelineOptions: which models run where."""

    detector: DetectorSpec
    providers: tuple[ProviderSpec, ...]  # () = the best this onnxruntime build offers
    threads: int | None  # None = automatic (the live app leaves a core to the output)
    flip_tta: bool
    precision: Precision
    model: EmotionModel = EmotionModel.FER2013

    @property
    def provider_names(self) -> list[str] | None:
        return [p.name for p in self.providers] or None


@dataclass(frozen=True)
class Options:
    """Everything the pipeline, the engine and the session need, from one :class:`Settings`.

    Defaults and bounds live in the settings' rules (above) and nowhere else; the Options
    classes' own checks are a safety net whose ValueError becomes a ConfigError naming the key.
    """

    source: SourceSpec
    sink: SinkSpec  # output.sink, with output.backend folded into a bare "virtualcam"
    pipeline: PipelineOptions
    models: ModelChoice
    identity: IdentityOptions | None  # None: anonymous, no name is read
    baseline: BaselineOptions
    engine: EngineOptions
    insight: InsightOptions
    # The privacy rules the controller turns into one FeedPolicy per sink.
    anonymous: bool  # no name read, shown or stored; faces pixelated
    aggregate_feed: bool  # the shared camera (SinkSpec.shared) shows class aggregates only


def options(settings: Settings, mode: RunningMode | None = None) -> Options:
    """The Options objects for ``settings``; ``mode`` is the pipeline's (default LIVE_STREAM).

    Raises ConfigError naming the key for any value the settings' rules did not catch (a
    Settings built in code, not loaded).
    """
    # Imported here: config is loaded by every command, the pipeline only by some.
    from .analysis.baseline import BaselineOptions
    from .analysis.pipeline import RunningMode
    from .live.engine import EngineOptions
    from .live.insight import InsightOptions
    from .people.identity import IdentityOptions

    out, an, pr, se = settings.output, settings.analysis, settings.privacy, settings.session
    sink = _checked("output.sink", specs.parse_sink, out.sink)
    if sink.kind is SinkKind.VIRTUALCAM and not sink.arg and out.backend:
        sink = SinkSpec(SinkKind.VIRTUALCAM, out.backend)
    models = ModelChoice(
        detector=_checked("analysis.detector", specs.parse_detector, an.detector),
        providers=tuple(_checked("analysis.providers", specs.parse_provider, p) for p in an.providers),
        threads=an.threads or None, flip_tta=an.flip_tta, precision=Precision(an.precision),
        model=EmotionModel(an.model),
    )
    source = _checked("capture.source", specs.parse_source, settings.capture.source)
    return Options(
        source=source,
        sink=sink,
        pipeline=_pipeline(an, source, mode or RunningMode.LIVE_STREAM),
        models=models,
        identity=None if pr.anonymous else _build("privacy.opt_out", IdentityOptions, opt_out=tuple(pr.opt_out)),
        baseline=_build("session.calibration_minutes", BaselineOptions, calibration_s=se.calibration_minutes * 60),
        engine=_build("output.fps, output.size", EngineOptions, fps=out.fps, size=tuple(out.size),
                      view=View(out.view)),
        insight=_build("session.attention_after_s", InsightOptions, attention_after_s=se.attention_after_s),
        anonymous=pr.anonymous,
        aggregate_feed=StudentFeed(pr.student_feed) is StudentFeed.AGGREGATE,
    )


def _pipeline(an: AnalysisSettings, source: SourceSpec, mode: RunningMode) -> PipelineOptions:
    from .analysis.pipeline import PipelineOptions
    from .analysis.refresh import RefreshOptions
    from .analysis.schedule import ClassifyOptions

    detection = DetectionPolicy(an.detection)
    if source.kind is SourceKind.CAMERA:
        # A camera picture is one "tile" that changes all the time: a full-frame detector pass
        # costs far more than a gallery tile, so it runs on the plain every-k cadence.
        detection = DetectionPolicy.EVERY_K
    return _build("analysis", PipelineOptions, mode=mode, detection=detection, detect_every=an.detect_every,
                  refresh=_build("analysis.detect_budget_ms, analysis.round_robin_s", RefreshOptions,
                                 budget_ms=an.detect_budget_ms, round_robin_s=an.round_robin_s),
                  classify=_build("analysis.classify_budget_ms", ClassifyOptions, budget_ms=an.classify_budget_ms))


def _checked(key: str, parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except SpecError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _build(key: str, cls: Callable[..., Any], **values: Any) -> Any:
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc}") from None
