"""Settings: nested frozen dataclasses read from settings.toml, with command-line overrides on top.

Each field declares the values it accepts (a `Rule`) and a one-line doc next to its
default, so loading, the error messages and the commented template all come from one
place. Errors name the file and the dotted key, and suggest the nearest known name:

    settings.toml: output.fps must be a number between 1 and 60, got "fast"
    settings.toml: unknown key privacy.anonymus (did you mean anonymous?)
"""

from __future__ import annotations

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
from typing import Any

import platformdirs

from .errors import ConfigError
from .inference.models import Precision
from .types import View

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


def _number(lo: float, hi: float) -> Rule:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise TypeError
        return float(value)

    return Rule(f"a number between {lo:g} and {hi:g}", parse, lambda v: int(v) if float(v).is_integer() else v)


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
        w, sep, h = value.lower().partition("x")
        if not (sep and w.strip().isdigit() and h.strip().isdigit()):
            raise TypeError
        size = int(w), int(h)
        if min(size) < 64 or size[0] % 2 or size[1] % 2:
            raise TypeError
        return size

    return Rule('"WIDTHxHEIGHT" with even numbers of at least 64, like "1280x720"', parse, lambda v: f"{v[0]}x{v[1]}")


def _nearest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1)
    return close[0] if close else None


def _hint(word: str, choices: list[str]) -> str:
    """" (did you mean X?)" for the closest choice, or ""."""
    close = _nearest(word, choices)
    return f" (did you mean {close}?)" if close else ""


# -- capture / sink specs and hotkeys (also used by the controller and hotkeys) -----------

SOURCE_KINDS = ("monitor", "region", "window", "video", "image")
SINK_KINDS = ("virtualcam", "preview", "file", "null")


def check_source(spec: str) -> str:
    """Validate the shape of a capture source spec; raises ValueError saying what is wrong."""
    kind, _, arg = spec.partition(":")
    if kind not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind {kind!r}" + _hint(kind, list(SOURCE_KINDS)))
    if kind == "monitor" and not arg.isdigit():
        raise ValueError("monitor needs a number, like monitor:1")
    if kind == "region":
        parts = arg.split(",")
        try:
            _, _, w, h = (int(p) for p in parts)
        except ValueError:
            raise ValueError("region needs four whole numbers, like region:0,0,1280,720") from None
        if w <= 0 or h <= 0:
            raise ValueError("region width and height must be positive")
    if kind in ("window", "video", "image") and not arg.strip():
        raise ValueError(f"{kind} needs a {'title' if kind == 'window' else 'path'} after the colon")
    return spec


def check_sink(spec: str) -> str:
    """Validate the shape of an output sink spec; raises ValueError saying what is wrong."""
    kind, colon, arg = spec.partition(":")
    if kind not in SINK_KINDS:
        raise ValueError(f"unknown sink kind {kind!r}" + _hint(kind, list(SINK_KINDS)))
    if kind in ("preview", "null") and colon:
        raise ValueError(f"{kind} takes no argument")
    if kind == "virtualcam" and colon and not arg.strip():
        raise ValueError("virtualcam: needs a backend name after the colon, or no colon")
    if kind == "file" and not arg.strip():
        raise ValueError("file needs a path after the colon")
    return spec


PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "DmlExecutionProvider",
             "CoreMLExecutionProvider", "OpenVINOExecutionProvider", "ROCMExecutionProvider")


def check_detector(spec: str) -> str:
    kind, _, arg = spec.strip().partition(":")
    if (kind.strip().lower(), bool(arg.strip())) not in (("centerface", False), ("scrfd", True)):
        raise ValueError(f"{spec!r} is not a detector: use centerface or scrfd:PATH")
    return spec.strip()


def check_provider(name: str) -> str:
    """onnxruntime names end in ExecutionProvider; catch "CUDA" or "cuda" early."""
    if name.endswith("ExecutionProvider"):
        return name
    guess = next((p for p in PROVIDERS if p.lower().startswith(name.lower())), None) if name else None
    guess = guess or _nearest(name, list(PROVIDERS))
    raise ValueError(f"{name!r} is not a provider name" + (f"; did you mean {guess}?" if guess else ""))


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


SOURCE_RULE = _text("a source: monitor:N, region:X,Y,W,H, window:TITLE, video:PATH or image:PATH", check_source)
SINK_RULE = _text("a sink: virtualcam, virtualcam:BACKEND, preview, file:PATH or null", check_sink)
HOTKEY_RULE = _text('a hotkey like "<ctrl>+<alt>+e", or "" for none', check_hotkey)


@dataclass(frozen=True)
class CaptureSettings:
    """Where the meeting gallery comes from."""

    source: str = field(default="monitor:1", metadata=setting(
        SOURCE_RULE, "monitor:N | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH"))


@dataclass(frozen=True)
class OutputSettings:
    """What the virtual camera sends."""

    sink: str = field(default="virtualcam", metadata=setting(
        SINK_RULE, "virtualcam[:BACKEND] | preview | file:PATH | null"))
    fps: float = field(default=30.0, metadata=setting(_number(1, 60), "frames per second sent to the meeting app"))
    size: tuple[int, int] = field(default=(1280, 720), metadata=setting(_size(), "output size, WIDTHxHEIGHT"))
    view: View = field(default=View.GALLERY, metadata=setting(_choice(View), "gallery | summary | sidebar | off"))
    backend: str = field(default="", metadata=setting(
        _text(), 'virtual camera backend for pyvirtualcam, "" = its default'))


@dataclass(frozen=True)
class AnalysisSettings:
    """How faces are found and read."""

    detect_every: int = field(default=3, metadata=setting(
        _integer(1, 100), "run the face detector every N analysed frames and track in between"))
    detector: str = field(default="centerface", metadata=setting(
        _text("a detector: centerface or scrfd:PATH", check_detector),
        "centerface (bundled) | scrfd:PATH to an insightface pack's det_*.onnx you have on disk"))
    providers: tuple[str, ...] = field(default=(), metadata=setting(
        _text_list("a list of onnxruntime provider names", check_provider),
        'onnxruntime providers in order of preference, e.g. ["CUDAExecutionProvider"]; [] = best available'))
    flip_tta: bool = field(default=False, metadata=setting(
        _flag(), "also classify mirrored faces (slower, slightly steadier)"))
    precision: Precision = field(default=Precision.AUTO, metadata=setting(
        _choice(Precision), "emotion model: auto = int8 on the CPU and fp32 on a GPU | fp32 | int8"))
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
    calibration_minutes: float = field(default=3.0, metadata=setting(
        _number(0, 60), "minutes of per-student baseline at the start"))
    attention_after_s: float = field(default=60.0, metadata=setting(
        _number(1, 3600), "seconds of low mood before a student is flagged"))

    @property
    def db_path(self) -> Path:
        """The session database: in data_dir when set, else $FER_OVERLAY_DATA_DIR or the user data folder."""
        from .store.db import DB_FILENAME, default_db_path

        return self.data_dir / DB_FILENAME if self.data_dir else default_db_path()

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
        target = Path(path) if path is not None else settings_path()
        settings = cls.default()
        if target.is_file():
            settings = settings.merge(_read_toml(target), origin=str(target))
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
            detail = f" ({exc})" if isinstance(exc, ValueError) and str(exc) else ""
            shown = _show(str(raw) if isinstance(raw, _Literal) else raw)
            errors.append(f"{origin}: {name}.{key} must be {rule.expected}, got {shown}{detail}")
    return replace(section, **values)


def _parse(rule: Rule, raw: Any) -> Any:
    if not isinstance(raw, _Literal):
        return rule.parse(raw)
    try:
        literal = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return rule.parse(str(raw))
    try:
        return rule.parse(literal)
    except (TypeError, ValueError):
        return rule.parse(str(raw))  # e.g. a window title that happens to look like a number


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file: {exc.strerror or exc}") from None


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
