"""The fer-overlay command line, run in-process on generated inputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.cli import main
from fer_overlay.synth import GallerySpec, gallery_frames, make_gallery
from fer_overlay.types import LABELS


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
    emotion = next(c for c in checks if c.name == "emotion model")
    assert emotion.detail.startswith("emotion_int8.onnx runs on CPUExecutionProvider")  # the file really loaded
