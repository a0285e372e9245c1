from __future__ import annotations

from pathlib import Path

import pytest

from fer_overlay.config import (
    CONFIG_ENV,
    Settings,
    StudentFeed,
    check_hotkey,
    settings_path,
    write_default,
)
from fer_overlay.errors import ConfigError
from fer_overlay.inference.models import Precision
from fer_overlay.types import View


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.load(write(tmp_path, text))
    return str(info.value)


def test_defaults_match_the_documented_schema() -> None:
    s = Settings.default()
    assert s.capture.source == "monitor:1"
    assert (s.output.sink, s.output.fps, s.output.size, s.output.view, s.output.backend) == (
        "virtualcam", 30, (1280, 720), View.GALLERY, "")
    assert (s.analysis.detect_every, s.analysis.providers, s.analysis.flip_tta, s.analysis.threads) == (3, (), False, 0)
    p = s.privacy
    assert (p.anonymous, p.student_feed, p.opt_out, p.retention_days, p.record_frames) == (
        False, StudentFeed.FULL, (), 30, False)
    assert (s.session.log, s.session.data_dir, s.session.calibration_minutes, s.session.attention_after_s) == (
        True, None, 3.0, 60.0)
    assert s.hotkeys.bindings() == {"toggle_overlay": "<ctrl>+<alt>+e", "cycle_view": "<ctrl>+<alt>+v",
                                    "bookmark": "<ctrl>+<alt>+b", "calibrate": "<ctrl>+<alt>+c"}


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings.default().output.fps = 10  # type: ignore[misc]


def test_file_values_are_parsed_to_types(tmp_path: Path) -> None:
    s = Settings.load(write(tmp_path, """
[capture]
source = "region:0,0,1920,1080"
[output]
sink = "virtualcam:obs"
fps = 15
size = "640x360"
view = "summary"
[analysis]
providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
flip_tta = true
precision = "FP32"
[privacy]
student_feed = "aggregate"
opt_out = ["Ana B.", "José"]
[session]
data_dir = "~/fer-sessions"
[hotkeys]
bookmark = ""
"""))
    assert s.capture.source == "region:0,0,1920,1080"
    assert (s.output.sink, s.output.fps, s.output.size, s.output.view) == ("virtualcam:obs", 15.0, (640, 360),
                                                                           View.SUMMARY)
    assert s.analysis.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert s.analysis.flip_tta is True
    assert s.analysis.precision is Precision.FP32
    assert s.privacy.student_feed is StudentFeed.AGGREGATE
    assert s.privacy.opt_out == ("Ana B.", "José")
    assert s.session.data_dir == Path("~/fer-sessions").expanduser()
    assert s.session.data_path == s.session.data_dir
    assert "bookmark" not in s.hotkeys.bindings()  # "" disables it
    assert s.output.backend == "" and s.privacy.retention_days == 30  # untouched keys keep defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[output]\nfps = "fast"', 'output.fps must be a number between 1 and 60, got "fast"'),
        ("[output]\nfps = 0", "output.fps must be a number between 1 and 60, got 0"),
        ("[output]\nfps = true", "output.fps must be a number between 1 and 60, got true"),
        ('[output]\nsize = "1279x720"', 'output.size must be "WIDTHxHEIGHT"'),
        ('[output]\nsize = "32x32"', 'got "32x32"'),
        ('[output]\nview = "galery"', 'output.view must be one of "gallery", "summary", "sidebar", "off", '
                                      'got "galery" (did you mean gallery?)'),
        ('[output]\nsink = "virtualcamera"', "output.sink must be a sink"),
        ('[capture]\nsource = "screen:1"', "capture.source must be a source"),
        ('[capture]\nsource = "monitor:one"', "monitor needs a number"),
        ('[capture]\nsource = "region:0,0,100"', "region needs four whole numbers"),
        ("[analysis]\ndetect_every = 2.5", "analysis.detect_every must be a whole number between 1 and 100, got 2.5"),
        ('[analysis]\nproviders = "CUDA"', 'analysis.providers must be a list of onnxruntime provider names'),
        ('[analysis]\nproviders = ["cuda"]', "did you mean CUDAExecutionProvider?"),
        ('[privacy]\nstudent_feed = "agregate"', 'got "agregate" (did you mean aggregate?)'),
        ('[analysis]\nprecision = "int4"', 'analysis.precision must be one of "auto", "fp32", "int8", got "int4"'),
        ("[privacy]\nopt_out = [1, 2]", "privacy.opt_out must be a list of names, got [1, 2]"),
        ("[privacy]\nanonymus = true", "unknown key privacy.anonymus (did you mean anonymous?)"),
        ("[captur]\nsource = 'monitor:1'", "unknown section [captur] (did you mean capture?)"),
        ("output = 3", "output must be a table"),
        ('[hotkeys]\nbookmark = "<ctr>+b"', 'hotkeys.bookmark must be a hotkey like "<ctrl>+<alt>+e", or "" for '
                                           'none, got "<ctr>+b" (unknown key <ctr>; did you mean <ctrl>?)'),
        ('[hotkeys]\ncalibrate = "<ctrl>+<alt>+"', "hotkeys.calibrate must be a hotkey"),
        ('[hotkeys]\ncalibrate = "ctrl+alt+c"', "'ctrl' is neither one character nor a <name>"),
        ("[output\nfps = 3", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_dotted_key(tmp_path: Path, text: str, message: str) -> None:
    error = load_error(tmp_path, text)
    assert error.startswith(str(tmp_path / "settings.toml") + ": ")
    assert message in error


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[output]\nfps = "fast"\nview = "x"\n[privacy]\nanonymus = true\n')
    assert len(error.splitlines()) == 3
    assert all(line.startswith(str(tmp_path)) for line in error.splitlines())


def test_overrides_apply_on_top_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[output]\nfps = 20\nview = "summary"\n')
    s = Settings.load(path, {"output.fps": 15, "privacy.anonymous": True})
    assert (s.output.fps, s.output.view, s.privacy.anonymous) == (15.0, View.SUMMARY, True)


def test_string_overrides_from_a_command_line_are_read_as_toml_literals(tmp_path: Path) -> None:
    s = Settings.default().with_overrides({
        "output.fps": "15", "privacy.anonymous": "true", "analysis.providers": '["CPUExecutionProvider"]',
        "capture.source": "window:1234",  # stays text although "1234" looks like a number
        "output.size": "640x480", "output.backend": "true",
    })
    assert (s.output.fps, s.privacy.anonymous, s.analysis.providers) == (15.0, True, ("CPUExecutionProvider",))
    assert (s.capture.source, s.output.size, s.output.backend) == ("window:1234", (640, 480), "true")


def test_bad_overrides_name_the_command_line_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.default().with_overrides({"output.fsp": 3, "output.fps": "fast"})
    lines = str(info.value).splitlines()
    assert "command line: unknown key output.fsp (did you mean output.fps?)" in lines
    assert 'command line: output.fps must be a number between 1 and 60, got "fast"' in lines


def test_template_has_every_default_and_loads_back(tmp_path: Path) -> None:
    path = write_default(tmp_path / "sub" / "settings.toml")
    text = path.read_text(encoding="utf-8")
    assert Settings.load(path) == Settings.default()
    for key in ("source", "sink", "fps", "size", "view", "backend", "detect_every", "providers", "flip_tta",
                "precision", "threads", "anonymous", "student_feed", "opt_out", "retention_days", "record_frames",
                "log", "data_dir", "calibration_minutes", "attention_after_s", "toggle_overlay", "cycle_view",
                "bookmark", "calibrate"):
        assert f"\n{key} = " in text
    assert text.count("\n# ") > 25  # every key and section is explained
    with pytest.raises(FileExistsError):
        write_default(path)  # never clobbers a teacher's file


def test_to_toml_round_trips_non_default_values(tmp_path: Path) -> None:
    s = Settings.default().with_overrides({
        "output.size": "640x360", "output.fps": 12.5, "privacy.opt_out": ['Zoë "Z" O\'Neil', "C:\\name"],
        "session.data_dir": "/tmp/x", "output.view": "off", "hotkeys.bookmark": "",
    })
    path = tmp_path / "s.toml"
    path.write_text(s.to_toml(), encoding="utf-8")
    assert Settings.load(path) == s


def test_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nowhere.toml"))
    assert settings_path() == tmp_path / "nowhere.toml"
    assert Settings.load() == Settings.default()  # nothing written yet: defaults
    with pytest.raises(ConfigError, match="settings file not found"):
        Settings.load(tmp_path / "typo.toml")  # asked for by name: an error
    write(tmp_path, "[output]\nfps = 10\n")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "settings.toml"))
    assert Settings.load().output.fps == 10


def test_default_path_is_in_the_user_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert settings_path() == platformdirs.user_config_path("fer_overlay") / "settings.toml"


def source_setting(spec: str) -> str:
    return Settings.default().with_overrides({"capture.source": spec}).capture.source


def sink_setting(spec: str) -> str:
    return Settings.default().with_overrides({"output.sink": spec}).output.sink


@pytest.mark.parametrize(("spec", "kept"), [
    ("monitor:1", "monitor:1"), ("monitor:0", "monitor:0"), ("monitor", "monitor:1"), ("Monitor:2", "monitor:2"),
    ("region:-1920,0,1920,1080", "region:-1920,0,1920,1080"), ("window:Zoom Meeting", "window:Zoom Meeting"),
    ("window:a:b", "window:a:b"), ("video:/tmp/class.mp4", "video:/tmp/class.mp4"),
    ("image:C:\\x.png", "image:C:\\x.png"),
])
def test_good_sources_are_kept_in_canonical_form(spec: str, kept: str) -> None:
    assert source_setting(spec) == kept


@pytest.mark.parametrize("spec", ["", "monitor:", "monitor:-1", "region:0,0,0,10", "region:a,b,c,d", "window:",
                                  "video: ", "screen:1"])
def test_bad_sources(spec: str) -> None:
    with pytest.raises(ConfigError, match="capture.source must be a source"):
        source_setting(spec)


@pytest.mark.parametrize(("spec", "kept"), [
    ("virtualcam", "virtualcam"), ("virtualcam:obs", "virtualcam:obs"), ("preview", "preview"),
    ("preview:Teacher", "preview:Teacher"), ("VirtualCam", "virtualcam"), ("file:/tmp/out.mp4", "file:/tmp/out.mp4"),
    ("null", "null"),
])
def test_good_sinks_are_kept_in_canonical_form(spec: str, kept: str) -> None:
    assert sink_setting(spec) == kept


@pytest.mark.parametrize("spec", ["", "virtualcam:", "preview:", "file:", "none", "null:1"])
def test_bad_sinks(spec: str) -> None:
    with pytest.raises(ConfigError, match="output.sink must be a sink"):
        sink_setting(spec)


@pytest.mark.parametrize("combo", ["<ctrl>+<alt>+e", "<cmd>+<shift>+x", "<ctrl>+<f5>", "<ctrl>++", "a", "<65>", "",
                                   "<Ctrl>+E"])
def test_good_hotkeys(combo: str) -> None:
    assert check_hotkey(combo) == combo


@pytest.mark.parametrize("combo", ["<ctrl>+", "ctrl+e", "<ctrl>+<ctrl>", "<ctrl>+ab", "<nope>+a", "<ctrl>+<>"])
def test_bad_hotkeys(combo: str) -> None:
    with pytest.raises(ValueError):
        check_hotkey(combo)


def test_precision_reaches_the_live_pipeline(tmp_path: Path) -> None:
    from fer_overlay.app.controller import RunPlan, _default_pipeline

    s = Settings.load(write(tmp_path, '[analysis]\nprecision = "fp32"\n[privacy]\nanonymous = true\n'))
    plan = RunPlan.from_settings(s)
    assert plan.precision == "fp32"
    assert _default_pipeline(plan).classifier.precision is Precision.FP32
    assert RunPlan.from_settings(Settings.default()).precision == "auto"


# -- the settings file itself: folders, encodings, odd files --------------------------------


def one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: ")
    return message


def test_a_utf8_file_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes("\ufeff[output]\nfps = 12\n[privacy]\nopt_out = [\"José\"]\n".encode())
    settings = Settings.load(path)
    assert (settings.output.fps, settings.privacy.opt_out) == (12.0, ("José",))


def test_a_latin1_file_names_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes('[output]\nfps = 12\n[privacy]\nopt_out = ["José"]\n'.encode("latin-1"))
    message = one_line_error(path)
    assert "not UTF-8" in message and "byte 0xe9 at line 4, column 16" in message and "save it as UTF-8" in message


def test_a_utf16_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes("[output]\nfps = 12\n".encode("utf-16"))
    assert "UTF-16" in one_line_error(path)


def test_a_folder_is_an_error_also_at_the_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "settings.toml"
    folder.mkdir()
    assert "is a folder" in one_line_error(folder)
    monkeypatch.setenv(CONFIG_ENV, str(folder))
    with pytest.raises(ConfigError, match="is a folder"):
        Settings.load()  # not a silent fall-back to the defaults


def test_a_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    assert "not a regular file" in one_line_error(fifo)


@pytest.mark.skipif(getattr(__import__("os"), "geteuid", lambda: 0)() == 0, reason="root reads any file")
def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[output]\nfps = 12\n")
    path.chmod(0)
    assert "cannot read settings file" in one_line_error(path)


# -- bounds: each value the Options objects would refuse is refused here, by key ---------------


@pytest.mark.parametrize(("text", "message"), [
    ('[output]\nsize = "100000x100000"', 'output.size must be "WIDTHxHEIGHT" with even numbers from 64x64 to '
                                         '3840x2160, like "1280x720", got "100000x100000" (larger than 3840x2160)'),
    ('[output]\nsize = "3842x2160"', "larger than 3840x2160"),
    ("[output]\nfps = 61", "output.fps must be a number between 1 and 60"),
    ("[session]\ncalibration_minutes = 0", "session.calibration_minutes must be a number more than 0 and at most 60"),
    ('[analysis]\ndetector = "scrfd"', "analysis.detector must be a detector"),
])
def test_bounds_are_checked_by_key(tmp_path: Path, text: str, message: str) -> None:
    assert message in load_error(tmp_path, text)


def test_the_largest_size_is_accepted() -> None:
    assert Settings.default().with_overrides({"output.size": "3840x2160"}).output.size == (3840, 2160)


def test_options_are_built_from_the_settings_in_one_place(tmp_path: Path) -> None:
    from fer_overlay.analysis.pipeline import RunningMode
    from fer_overlay.config import options
    from fer_overlay.specs import SinkKind, SourceKind

    s = Settings.load(write(tmp_path, """
[capture]
source = "Monitor:2"
[output]
sink = "virtualcam"
backend = "obs"
fps = 20
size = "640x360"
[analysis]
detect_every = 5
providers = ["cpuexecutionprovider"]
threads = 2
[privacy]
opt_out = ["Ana"]
student_feed = "aggregate"
[session]
calibration_minutes = 0.5
attention_after_s = 30
"""))
    o = options(s, RunningMode.VIDEO)
    assert (o.source.kind, o.source.monitor) == (SourceKind.MONITOR, 2)
    assert (o.sink.kind, o.sink.backend) == (SinkKind.VIRTUALCAM, "obs")
    assert (o.pipeline.mode, o.pipeline.detect_every) == (RunningMode.VIDEO, 5)
    assert (o.models.provider_names, o.models.threads) == (["CPUExecutionProvider"], 2)
    assert o.identity is not None and o.identity.opt_out == ("Ana",)
    assert o.baseline.calibration_s == 30.0
    assert (o.engine.fps, o.engine.size, o.aggregate_feed, o.anonymous) == (20.0, (640, 360), True, False)
    assert o.insight.attention_after_s == 30.0
    assert options(Settings.default().with_overrides({"privacy.anonymous": True})).identity is None


def test_options_turn_a_value_built_in_code_into_a_config_error_naming_the_key() -> None:
    from dataclasses import replace

    from fer_overlay.config import options

    s = Settings.default()
    with pytest.raises(ConfigError, match="^session.calibration_minutes: "):
        options(replace(s, session=replace(s.session, calibration_minutes=0)))
    with pytest.raises(ConfigError, match="^capture.source: unknown source 'screen:1'"):
        options(replace(s, capture=replace(s.capture, source="screen:1")))
