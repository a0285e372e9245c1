"""The spec grammars (fer_overlay/specs.py), and that settings, the command line and the
openers all take exactly the same forms: what one accepts, all accept, meaning the same."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from xvfb import xvfb  # noqa: F401 - a fixture

from fer_overlay import specs
from fer_overlay.analysis.detect import CenterFace, make_detector
from fer_overlay.capture import ImageSource, MonitorSource, VideoSource, open_source, parse_source_spec
from fer_overlay.cli import main
from fer_overlay.config import Settings
from fer_overlay.errors import ConfigError, ModelError, SinkError, SourceError
from fer_overlay.inference import runtime
from fer_overlay.sinks import FileSink, NullSink, open_sink, parse_sink_spec, sink_spec
from fer_overlay.specs import DetectorKind, SinkKind, SourceKind, SourceSpec, SpecError

GOOD_SOURCES = {
    "monitor:1": SourceSpec(SourceKind.MONITOR, monitor=1),
    "Monitor:1": SourceSpec(SourceKind.MONITOR, monitor=1),
    "monitor": SourceSpec(SourceKind.MONITOR, monitor=1),
    " MONITOR : 0 ": SourceSpec(SourceKind.MONITOR, monitor=0),
    "region:-1920,0,1920,1080": SourceSpec(SourceKind.REGION, region=(-1920, 0, 1920, 1080)),
    "Region: 1, 2, 30, 40": SourceSpec(SourceKind.REGION, region=(1, 2, 30, 40)),
    "window:Zoom Meeting": SourceSpec(SourceKind.WINDOW, target="Zoom Meeting"),
    "Window:a:b": SourceSpec(SourceKind.WINDOW, target="a:b"),
    "video:/tmp/class.mp4": SourceSpec(SourceKind.VIDEO, target="/tmp/class.mp4"),
    r"image:C:\x.png": SourceSpec(SourceKind.IMAGE, target=r"C:\x.png"),
    "camera": SourceSpec(SourceKind.CAMERA, camera=0),
    "Camera:2": SourceSpec(SourceKind.CAMERA, camera=2),
}
BAD_SOURCES = ["", "screen:1", "webcam:0", "monitor:", "monitor:x", "monitor:-1", "region:1,2,3", "region:a,b,c,d",
               "region:0,0,0,10", "window:", "window:   ", "video:", "image: ", "camera:", "camera:x", "camera:-1",
               "camera:64"]
GOOD_SINKS = {
    "virtualcam": (SinkKind.VIRTUALCAM, ""), "VirtualCam:obs": (SinkKind.VIRTUALCAM, "obs"),
    "preview": (SinkKind.PREVIEW, ""), "preview:Teacher": (SinkKind.PREVIEW, "Teacher"),
    "Preview:Teacher view": (SinkKind.PREVIEW, "Teacher view"), "file:/tmp/a:b.mp4": (SinkKind.FILE, "/tmp/a:b.mp4"),
    "NULL": (SinkKind.NULL, ""),
}
BAD_SINKS = ["", "obs", "none", "virtualcamera", "virtualcam:", "preview:", "file:", "file:  ", "null:x"]


# -- the grammar ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "spec"), GOOD_SOURCES.items())
def test_sources_parse_to_typed_specs_that_round_trip(text: str, spec: SourceSpec) -> None:
    assert specs.parse_source(text) == spec
    assert specs.parse_source(str(spec)) == spec
    assert str(spec).split(":")[0] == spec.kind.value  # canonical: the kind in lower case


@pytest.mark.parametrize(("text", "parts"), GOOD_SINKS.items())
def test_sinks_parse_to_typed_specs_that_round_trip(text: str, parts: tuple[SinkKind, str]) -> None:
    spec = specs.parse_sink(text)
    assert (spec.kind, spec.arg) == parts
    assert specs.parse_sink(str(spec)) == spec


def test_sink_spec_fields() -> None:
    assert specs.parse_sink("preview:Teacher").title == "Teacher"
    assert specs.parse_sink("preview").title == specs.PREVIEW_TITLE
    assert specs.parse_sink("virtualcam:obs").backend == "obs" and specs.parse_sink("virtualcam").backend is None
    assert specs.parse_sink("virtualcam").shared and not specs.parse_sink("preview").shared


@pytest.mark.parametrize(("parse", "text", "forms"), [
    *((specs.parse_source, t, specs.SOURCE_FORMS) for t in BAD_SOURCES),
    *((specs.parse_sink, t, specs.SINK_FORMS) for t in BAD_SINKS),
    *((specs.parse_detector, t, specs.DETECTOR_FORMS) for t in ["", "yolo", "scrfd", "scrfd:", "centerface:x"]),
    *((specs.parse_size, t, specs.SIZE_FORMS) for t in ["", "abc", "1280", "1280x", "x720", "100000x100000",
                                                         "3842x2160", "3840x2162", "62x64", "1279x720"]),
    *((specs.parse_provider, t, specs.PROVIDER_FORMS) for t in ["", "cuda", "CUDA", "ExecutionProvider"]),
])
def test_bad_specs_name_the_spec_and_list_the_forms(parse, text: str, forms: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(text)
    message = str(info.value)
    assert repr(text) in message and message.endswith(f"; use {forms}") and "\n" not in message


def test_sizes_are_bounded_at_4k() -> None:
    assert tuple(specs.parse_size("3840x2160")) == (3840, 2160)
    assert tuple(specs.parse_size(" 64 X 64 ")) == (64, 64)
    with pytest.raises(SpecError, match="larger than 3840x2160"):
        specs.parse_size("100000x100000")


def test_providers_get_onnxruntime_spelling() -> None:
    assert specs.parse_provider("cudaexecutionprovider").name == "CUDAExecutionProvider"
    assert specs.parse_provider("MyNpuExecutionProvider").name == "MyNpuExecutionProvider"  # a build we do not know
    with pytest.raises(SpecError, match=r"did you mean CUDAExecutionProvider\?"):
        specs.parse_provider("cuda")


# -- settings, openers and command line agree --------------------------------------------------


@pytest.mark.parametrize(("text", "spec"), GOOD_SOURCES.items())
def test_every_good_source_is_one_spec_to_the_settings_and_the_opener(text: str, spec: SourceSpec) -> None:
    kept = Settings.default().with_overrides({"capture.source": text}).capture.source
    assert kept == str(spec)
    assert parse_source_spec(text) == parse_source_spec(kept) == (spec.kind, spec.arg)


@pytest.mark.parametrize("text", BAD_SOURCES)
def test_every_bad_source_is_refused_by_settings_opener_and_command_line(text: str, capsys) -> None:
    with pytest.raises(ConfigError, match="capture.source must be a source"):
        Settings.default().with_overrides({"capture.source": text})
    with pytest.raises(SourceError) as info:
        open_source(text)
    assert repr(text) in str(info.value)
    assert main(["run", "--source", text, "--sink", "null", "--duration", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --source:" in err and repr(text) in err


@pytest.mark.parametrize(("text", "parts"), GOOD_SINKS.items())
def test_every_good_sink_is_one_spec_to_the_settings_and_the_opener(text: str, parts: tuple[SinkKind, str]) -> None:
    kept = Settings.default().with_overrides({"output.sink": text}).output.sink
    assert specs.parse_sink(kept) == specs.parse_sink(text)
    assert parse_sink_spec(text) == parse_sink_spec(kept) == parts


@pytest.mark.parametrize("text", BAD_SINKS)
def test_every_bad_sink_is_refused_by_settings_opener_and_command_line(text: str, capsys) -> None:
    with pytest.raises(ConfigError, match="output.sink must be a sink"):
        Settings.default().with_overrides({"output.sink": text})
    with pytest.raises(SinkError) as info:
        open_sink(text, 64, 48, 10)
    assert repr(text) in str(info.value)
    # `run --sink` used to skip the check; now it is the same grammar
    assert main(["run", "--source", "image:nowhere.png", "--sink", text, "--duration", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --sink:" in err and repr(text) in err


def test_the_opened_sinks_are_what_the_spec_says(tmp_path: Path) -> None:
    with open_sink("NULL", 64, 48, 10) as null:
        assert isinstance(null, NullSink)
    path = tmp_path / "out.mp4"
    with open_sink(f"File: {path} ", 64, 48, 10) as file:
        assert isinstance(file, FileSink) and file.path == path
    assert sink_spec("Preview:Teacher").title == "Teacher"  # the title open_sink gives the window


def test_file_sources_open_from_any_case_of_their_spec(tmp_path: Path) -> None:
    image = tmp_path / "g.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 90, np.uint8))
    video = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.release()
    for text in (f"image:{image}", f"Image: {image}", str(Settings.default().with_overrides(
            {"capture.source": f"IMAGE:{image}"}).capture.source)):
        with open_source(text) as source:
            assert isinstance(source, ImageSource) and source.read().image.shape == (48, 64, 3)
    with open_source(f"Video:{video}") as source:
        assert isinstance(source, VideoSource) and source.read() is not None


@pytest.mark.gui
def test_monitor_specs_in_any_case_open_the_same_monitor(xvfb) -> None:  # noqa: F811 - the fixture
    setting = Settings.default().with_overrides({"capture.source": "Monitor:1"}).capture.source
    for text in ("Monitor:1", "monitor", setting):
        with open_source(text) as source:
            assert isinstance(source, MonitorSource) and source.index == 1
            assert source.read().image.shape == (1080, 1920, 3)


def test_detector_specs_are_one_grammar(tmp_path: Path) -> None:
    assert Settings.default().with_overrides({"analysis.detector": "CenterFace"}).analysis.detector == "centerface"
    assert isinstance(make_detector("CenterFace"), CenterFace)
    missing = tmp_path / "det_10g.onnx"
    spec = specs.parse_detector(f"SCRFD:{missing}")
    assert (spec.kind, spec.path) == (DetectorKind.SCRFD, missing)
    with pytest.raises(ModelError, match="SCRFD model not found"):  # parsed alike; the file is what is missing
        make_detector(f"SCRFD:{missing}")
    for bad in ("scrfd", "centerface:x"):
        with pytest.raises(ConfigError, match="analysis.detector must be a detector"):
            Settings.default().with_overrides({"analysis.detector": bad})
        with pytest.raises(ModelError, match=f"bad detector {bad!r}"):
            make_detector(bad)


def test_provider_names_are_one_grammar(capsys) -> None:
    cuda, cpu = "CUDAExecutionProvider", "CPUExecutionProvider"
    setting = Settings.default().with_overrides({"analysis.providers": '["cudaexecutionprovider"]'})
    assert setting.analysis.providers == (cuda,)
    # the runtime used to drop a name in the wrong case as "not available"
    assert runtime.resolve_providers(["cudaexecutionprovider"], available=[cuda, cpu]) == [cuda, cpu]
    with pytest.raises(ModelError, match="did you mean CUDAExecutionProvider"):
        runtime.resolve_providers(["cuda"], available=[cuda, cpu])
    with pytest.raises(ConfigError, match="did you mean CUDAExecutionProvider"):
        Settings.default().with_overrides({"analysis.providers": '["cuda"]'})
    assert main(["doctor", "--provider", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --provider:" in err and "CUDAExecutionProvider" in err
