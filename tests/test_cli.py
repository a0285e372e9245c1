"""The fer-overlay command line, run in-process on generated inputs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.cli import build_parser, main
from fer_overlay.config import CONFIG_ENV
from fer_overlay.synth import GallerySpec, gallery_frames, make_gallery
from fer_overlay.types import LABELS


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path_factory, monkeypatch):
    """The developer's own settings.toml must not change what these tests see."""
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path_factory.mktemp("cfg") / "absent.toml"))
    monkeypatch.setenv("FER_OVERLAY_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def run_cli(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def gallery_png(tmp_path_factory) -> tuple[Path, object]:
    image, truth = make_gallery(GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.12))
    path = tmp_path_factory.mktemp("in") / "gallery.png"
    cv2.imwrite(str(path), image)
    return path, truth


def check_schema(doc: dict) -> None:
    assert doc["schema"] == 1 and doc["labels"] == list(LABELS)
    for frame in doc["frames"]:
        assert {"frame", "time", "layout", "tiles", "faces"} <= set(frame)
        for face in frame["faces"]:
            assert set(face) == {"box", "score", "track_id", "tile", "emotion", "probs", "name"}
            x1, y1, x2, y2 = face["box"]
            assert x2 > x1 and y2 > y1
            assert face["emotion"] in (*LABELS, "unknown")
            assert face["tile"] is None or isinstance(face["tile"], int)
            if face["probs"] is not None:
                assert list(face["probs"]) == list(LABELS)
                assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-3)


def test_analyze_image_writes_json_and_annotated_image(gallery_png, tmp_path, capsys):
    path, truth = gallery_png
    out_img, out_json = tmp_path / "annotated.png", tmp_path / "results.json"
    code, out, _ = run_cli("analyze", str(path), "--out", str(out_img), "--json", str(out_json), capsys=capsys)
    assert code == 0 and "layout grid with 9 tiles" in out
    doc = json.loads(out_json.read_text())
    check_schema(doc)
    faces = doc["frames"][0]["faces"]
    assert len(faces) == len(truth.faces)
    assert {f["tile"] for f in faces} == {t.index for t in truth.faces}
    # Names come from the tiles' labels; most are read.
    names = {f["name"] for f in faces if f["name"]}
    assert len(names & {t.name for t in truth.faces}) >= len(faces) - 2
    annotated = cv2.imread(str(out_img))
    original = cv2.imread(str(path))
    assert annotated.shape == original.shape and np.abs(annotated.astype(int) - original).sum() > 0


def test_analyze_anonymous_reads_no_names(gallery_png, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, _, _ = run_cli("analyze", str(gallery_png[0]), "--anonymous", "--json", str(out_json), capsys=capsys)
    assert code == 0
    assert all(f["name"] is None for f in json.loads(out_json.read_text())["frames"][0]["faces"])


def test_analyze_video_tracks_faces(tmp_path, capsys):
    spec = GallerySpec(participants=4, size=(640, 360), seed=2, camera_off=0.0)
    video = tmp_path / "class.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 360))
    for image, _ in gallery_frames(spec, 12):
        writer.write(image)
    writer.release()
    out_json, out_vid = tmp_path / "v.json", tmp_path / "annotated.mp4"
    code, _out, _ = run_cli("analyze", str(video), "--json", str(out_json), "--out", str(out_vid), capsys=capsys)
    assert code == 0
    doc = json.loads(out_json.read_text())
    check_schema(doc)
    assert len(doc["frames"]) == 12
    ids = [sorted(f["track_id"] for f in fr["faces"]) for fr in doc["frames"]]
    assert all(len(i) == 4 for i in ids) and all(i == ids[0] for i in ids)
    assert doc["frames"][1]["time"] == pytest.approx(0.1, abs=1e-3)
    cap = cv2.VideoCapture(str(out_vid))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_video_without_faces_gives_empty_results(tmp_path, capsys):
    video = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (320, 240))
    for i in range(5):
        writer.write(np.full((240, 320, 3), 40 + i, np.uint8))
    writer.release()
    out_json = tmp_path / "e.json"
    code, out, _ = run_cli("analyze", str(video), "--json", str(out_json), capsys=capsys)
    assert code == 0 and "0 face(s)" in out
    assert all(fr["faces"] == [] for fr in json.loads(out_json.read_text())["frames"])


@pytest.mark.parametrize("kind", ["grey", "bgra", "tiny"])
def test_unusual_images_are_handled(tmp_path, capsys, kind):
    image, _ = make_gallery(GallerySpec(participants=4, size=(640, 360), seed=1))
    path = tmp_path / f"{kind}.png"
    if kind == "grey":
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    elif kind == "bgra":
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    else:
        cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))
    code, out, err = run_cli("analyze", str(path), capsys=capsys)
    if kind == "tiny":
        assert code == 2 and "too small" in err and "Traceback" not in err
    else:
        assert code == 0 and "4 face(s)" in out


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_unreadable_files_are_clear_errors(tmp_path, capsys, content):
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    code, _, err = run_cli("analyze", str(bad), capsys=capsys)
    assert code == 2 and "broken.png" in err and "Traceback" not in err
    code, _, err = run_cli("analyze", str(tmp_path / "missing.mp4"), capsys=capsys)
    assert code == 2 and "missing.mp4" in err


def test_demo_runs_headless(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    code, out, _ = run_cli("demo", "--out", str(tmp_path), "--frames", "6", "--participants", "4",
                           "--size", "960x540", capsys=capsys)
    assert code == 0 and "faces found 4 / 4" in out
    for name in ("annotated.png", "summary.png", "demo.mp4", "results.json", "summary.txt", "input.png"):
        assert (tmp_path / name).stat().st_size > 0
    check_schema(json.loads((tmp_path / "results.json").read_text()))


def test_doctor_reports_builds_and_providers(capsys):
    from fer_overlay.commands import doctor

    buf = io.StringIO()
    checks = doctor.collect()
    doctor.run(type("A", (), {"providers": None})(), out=buf)
    text = buf.getvalue()
    assert "onnxruntime build" in text and "CPUExecutionProvider" in text
    emotion = next(c for c in checks if c.name == "emotion model (fer2013)")
    assert emotion.detail.startswith("emotion_int8.onnx runs on CPUExecutionProvider")  # the file really loaded
    assert "emotion model (fer2013)" in text and "cameras" in text


def test_doctor_checks_the_emotion_network_the_settings_choose(tmp_path, capsys):
    from fer_overlay.commands import doctor

    settings = tmp_path / "s.toml"
    settings.write_text('[analysis]\nmodel = "ferplus"\nprecision = "fp32"\n')
    buf = io.StringIO()
    doctor.run(type("A", (), {"providers": None, "config": settings})(), out=buf)
    line = next(x for x in buf.getvalue().splitlines() if "emotion model" in x)
    assert "emotion model (ferplus)" in line and "emotion_ferplus.onnx runs on" in line


# -- bad input: exit code 2, one line, no traceback, nothing written ---------------------------


def one_line_error(code: int, err: str, *words: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("fer-overlay: error: "), err
    for word in words:
        assert word in lines[0]
    return lines[0]


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def corrupt_png(tmp_path) -> Path:
    """An input the analysis would fail on: an error about an output path proves the path was
    checked before any analysis ran."""
    path = tmp_path / "in" / "broken.png"
    path.parent.mkdir()
    path.write_bytes(b"not an image at all")
    return path


@pytest.fixture
def readonly_dir(tmp_path):
    """A real read-only file system (root ignores folder permissions, not a read-only mount)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_analyze_out_with_an_unknown_type_fails_before_the_analysis(corrupt_png, tmp_path, capsys):
    code, _, err = run_cli("analyze", str(corrupt_png), "--out", str(tmp_path / "a.gif"),
                           "--json", str(tmp_path / "r.json"), capsys=capsys)
    one_line_error(code, err, "a.gif", "unknown file type '.gif'", ".png")
    assert not (tmp_path / "a.gif").exists() and not (tmp_path / "r.json").exists()


def test_analyze_video_out_must_be_mp4(tmp_path, capsys):
    video = tmp_path / "class.mp4"
    video.write_bytes(b"not a video")
    code, _, err = run_cli("analyze", str(video), "--out", str(tmp_path / "annotated.png"), capsys=capsys)
    one_line_error(code, err, "annotated.png", ".mp4")


def test_analyze_json_to_a_read_only_folder_fails_before_the_analysis(corrupt_png, readonly_dir, capsys):
    code, _, err = run_cli("analyze", str(corrupt_png), "--json", str(readonly_dir / "r.json"), capsys=capsys)
    one_line_error(code, err, "r.json", "not writable")
    assert entries(readonly_dir) == []


def test_analyze_to_a_full_disk_fails_before_the_analysis(corrupt_png, tiny_disk, capsys):
    tiny_disk.fill()
    code, _, err = run_cli("analyze", str(corrupt_png), "--json", str(tiny_disk.path / "r.json"), capsys=capsys)
    one_line_error(code, err, "r.json", "disk is full")
    assert entries(tiny_disk.path) == [".filler"]


def test_a_write_that_fails_after_the_work_is_one_line(tiny_disk, tmp_path, capsys):
    # 256 KiB cannot hold the demo's images and video: the failure comes late, and is still one line.
    code, _, err = run_cli("demo", "--out", str(tiny_disk.path / "demo"), "--frames", "1", "--participants", "1",
                           "--size", "640x360", capsys=capsys)
    one_line_error(code, err, str(tiny_disk.path / "demo"))


@pytest.mark.parametrize(("argv", "words"), [
    (["analyze", "IN", "--detect-every", "0"], ["--detect-every", "between 1 and 100", "'0'"]),
    (["analyze", "IN", "--detect-every", "x"], ["--detect-every", "'x'"]),
    (["analyze", "IN", "--threads", "-1"], ["--threads"]),
    (["analyze", "IN", "--detector", "yolo"], ["--detector", "'yolo'"]),
    (["analyze", "IN", "--max-frames", "-3"], ["--max-frames"]),
    (["demo", "--participants", "0"], ["--participants", "from 1 to 49", "'0'"]),
    (["demo", "--participants", "1000"], ["--participants", "'1000'"]),
    (["demo", "--frames", "0"], ["--frames", "'0'"]),
    (["demo", "--size", "abc"], ["--size", "'abc'", "WIDTHxHEIGHT"]),
    (["demo", "--size", "100000x100000"], ["--size", "larger than 3840x2160"]),
    (["run", "--size", "abc", "--sink", "null"], ["--size", "'abc'"]),
    (["run", "--size", "100000x100000", "--sink", "null"], ["--size", "larger than 3840x2160"]),
    (["run", "--fps", "500", "--sink", "null"], ["output.fps", "between 1 and 60"]),
    (["--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    argv = [str(image) if a == "IN" else a for a in argv]
    if argv[0] == "demo":
        argv += ["--out", str(tmp_path / "o")]
    code, _, err = run_cli(*argv, capsys=capsys)
    one_line_error(code, err, *words)
    assert entries(tmp_path) == ["in.png"]  # no demo folder, no output


def test_demo_size_too_small_for_the_class_is_one_line(tmp_path, capsys):
    code, _, err = run_cli("demo", "--out", str(tmp_path / "d"), "--participants", "49", "--size", "64x64",
                           capsys=capsys)
    one_line_error(code, err, "--size", "--participants")
    assert not (tmp_path / "d").exists()


# -- settings files and --config ----------------------------------------------------------------


@pytest.mark.parametrize(("content", "words"), [
    ('[privacy]\nopt_out = ["José"]\n'.encode("latin-1"), ["not UTF-8", "line 2"]),
    (b"[output]\nfps = 0\n", ["output.fps must be a number between 1 and 60, got 0"]),
])
def test_a_bad_settings_file_is_one_line(content, words, tmp_path, capsys):
    path = tmp_path / "settings.toml"
    path.write_bytes(content)
    code, _, err = run_cli("--config", str(path), "run", "--sink", "null", capsys=capsys)
    one_line_error(code, err, str(path), *words)


def test_a_settings_folder_is_one_line(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "settings.toml"
    folder.mkdir()
    monkeypatch.setenv(CONFIG_ENV, str(folder))
    code, _, err = run_cli("run", "--sink", "null", capsys=capsys)  # the default location, not --config
    one_line_error(code, err, str(folder), "is a folder")


@pytest.mark.parametrize("before", [True, False])
def test_config_is_read_before_or_after_the_command(before, tmp_path, capsys):
    path = tmp_path / "settings.toml"
    path.write_text("[output]\nfps = 0\n", encoding="utf-8")
    flags = ["--config", str(path)]
    argv = [*flags, "run", "--sink", "null"] if before else ["run", "--sink", "null", *flags]
    code, _, err = run_cli(*argv, capsys=capsys)
    one_line_error(code, err, str(path), "output.fps")  # `--config F run` used to ignore F


@pytest.mark.parametrize("before", [True, False])
def test_config_takes_effect_before_or_after_the_command(before, gallery_png, tmp_path, capsys):
    path = tmp_path / "anonymous.toml"
    path.write_bytes("\ufeff[privacy]\nanonymous = true\n".encode())  # a BOM, as Windows Notepad writes
    out_json = tmp_path / "r.json"
    rest = ["analyze", str(gallery_png[0]), "--json", str(out_json)]
    flags = ["--config", str(path)]
    code, _, err = run_cli(*([*flags, *rest] if before else [*rest, *flags]), capsys=capsys)
    assert code == 0, err
    faces = json.loads(out_json.read_text())["frames"][0]["faces"]
    assert faces and all(f["name"] is None for f in faces)  # no name read: the file's privacy.anonymous


def test_global_options_parse_on_both_sides() -> None:
    args = build_parser().parse_args(["-v", "--config", "a.toml", "doctor", "-v"])
    assert (args.config, args.verbose + args.verbose_after) == (Path("a.toml"), 2)
    args = build_parser().parse_args(["--config", "a.toml", "doctor", "--config", "b.toml"])
    assert args.config == Path("b.toml")  # the nearer one wins
    assert build_parser().parse_args(["doctor"]).config is None


def test_python_m_fer_overlay_help():
    done = subprocess.run([sys.executable, "-m", "fer_overlay", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: fer-overlay") and "--config FILE" in done.stdout
    for command in ("analyze", "run", "demo", "doctor", "sessions", "export", "report", "forget"):
        assert command in done.stdout
