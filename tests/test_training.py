"""Training and export on a tiny synthetic FER2013-shaped set (PyTorch only: skipped without it,
failed without it under CI=1, where .ci/run installs it).

Checks the plumbing a real run depends on: augmentation keeps shapes and ranges, a
one-epoch run writes its checkpoints and metrics, --resume refuses a changed schedule,
and the exported ONNX file agrees with PyTorch and carries the input contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch", "PyTorch, the train extra: python3 scripts/install.py --train")

from script_loader import load_script  # noqa: E402

from fer_overlay.analysis.classify import normalise  # noqa: E402
from fer_overlay.training.augment import AugmentConfig, augment, random_crop, ten_crops  # noqa: E402
from fer_overlay.training.data import FERPLUS_COLUMNS, LABELS  # noqa: E402
from fer_overlay.training.net import ARCHS, NetSpec, build  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fer_dir(tmp_path: Path) -> Path:
    """Two npz splits in the FER2013 layout: a bright blob means 'happy', a dark one 'sad'."""
    rng = np.random.default_rng(0)
    for split, n in (("Training", 192), ("PublicTest", 64)):
        labels = rng.choice([3, 4], n)
        images = rng.integers(60, 120, (n, 48, 48)).astype(np.uint8)
        images[labels == 3, 16:32, 16:32] = 230
        images[labels == 4, 16:32, 16:32] = 10
        # FER+ votes agree with the label (happiness / sadness columns), one face is "not a face".
        votes = np.zeros((n, len(FERPLUS_COLUMNS)), np.int64)
        votes[np.arange(n), np.where(labels == 3, 1, 3)] = 10
        votes[0] = [0] * 9 + [10]
        np.savez(tmp_path / f"fer2013_{split}.npz", images=images, labels=labels, classes=np.array(LABELS),
                 ferplus_votes=votes, ferplus_columns=np.array(FERPLUS_COLUMNS))
    return tmp_path


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_maps_a_face_batch_to_seven_logits(arch: str) -> None:
    net = build(arch).eval()
    with torch.no_grad():
        out = net(torch.zeros(3, 1, 48, 48))
    assert out.shape == (3, len(LABELS))


def test_unknown_arch_and_bad_spec_are_named() -> None:
    with pytest.raises(ValueError, match="student-huge"):
        build("student-huge")
    with pytest.raises(ValueError, match="stem_stride"):
        NetSpec(widths=(8,), blocks=(1,), stem_stride=3)


def test_init_carries_weights_to_an_arch_of_the_same_shapes_and_names_a_misfit(
    fer_dir: Path, tmp_path: Path
) -> None:
    train = load_script("train_emotion")
    common = ["--data-dir", str(fer_dir), "--epochs", "1", "--batch-size", "32", "--threads", "1", "--limit", "64"]
    train.train(train.parse_args([*common, "--out", str(tmp_path / "a")]))
    init = ["--init", str(tmp_path / "a" / "best.pt")]
    # A learning rate of ~0 leaves the carried weights in place, so they can be compared.
    tiny_lr = ["--lr", "1e-9"]
    train.train(train.parse_args([*common, *init, *tiny_lr, "--out", str(tmp_path / "b"), "--arch", "student-s1"]))
    start = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    tuned = torch.load(tmp_path / "b" / "best.pt", weights_only=False)
    assert tuned["arch"] == "student-s1"
    for key in ("features.0.weight", "features.3.weight", "head.3.weight"):
        assert torch.allclose(tuned["model"][key], start["model"][key], atol=1e-6), key
    with pytest.raises(SystemExit, match="does not fit --arch teacher"):
        train.train(train.parse_args([*common, *init, "--out", str(tmp_path / "c"), "--arch", "teacher"]))


def test_augment_keeps_shape_and_range_and_strength_zero_only_flips() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 48, 48)
    out = augment(x, AugmentConfig(), gen)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)
    calm = augment(x, AugmentConfig().scaled(0.0), torch.Generator().manual_seed(1))
    same_or_mirrored = [torch.allclose(c, o, atol=1e-4) or torch.allclose(c, o.flip(-1), atol=1e-4)
                        for c, o in zip(calm, x)]
    assert all(same_or_mirrored)
    with pytest.raises(ValueError, match="strength"):
        AugmentConfig().scaled(-1)


def test_random_crops_are_windows_of_each_face_at_their_own_places() -> None:
    # Pixel values that name their row and column, so a crop shows where it was taken.
    grid = (torch.arange(48).view(48, 1) * 100 + torch.arange(48).view(1, 48)).float()
    x = grid.expand(64, 1, 48, 48)
    crops = random_crop(x, 44, torch.Generator().manual_seed(0))
    assert crops.shape == (64, 1, 44, 44)
    y0, x0 = (crops[:, 0, 0, 0] // 100).long(), (crops[:, 0, 0, 0] % 100).long()
    for c, r, q in zip(crops, y0, x0):
        assert torch.equal(c[0], grid[r : r + 44, q : q + 44])
    assert int(y0.min()) >= 0 and int(y0.max()) <= 4 and len(set(zip(y0.tolist(), x0.tolist()))) > 5
    assert torch.equal(crops, random_crop(x, 44, torch.Generator().manual_seed(0)))
    views = ten_crops(x[:2], 44)
    assert len(views) == 10 and all(v.shape == (2, 1, 44, 44) for v in views)
    corners = {(int(v[0, 0, 0, 0]) // 100, int(v[0, 0, 0, 0]) % 100) for v in views[:5]}
    assert corners == {(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)}
    assert torch.equal(views[7], views[2].flip(-1))
    for bad in (0, 49):
        with pytest.raises(ValueError, match="crop side"):
            random_crop(x, bad, torch.Generator())
        with pytest.raises(ValueError, match="crop side"):
            ten_crops(x, bad)


def test_one_epoch_run_export_and_resume_guard(fer_dir: Path, tmp_path: Path) -> None:
    train = load_script("train_emotion")
    out = tmp_path / "run"
    args = ["--data-dir", str(fer_dir), "--out", str(out), "--epochs", "2", "--batch-size", "32", "--threads", "1"]
    summary = train.train(train.parse_args(args))
    for name in ("last.pt", "best.pt", "metrics.jsonl", "summary.json"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["seconds"] > 0 for r in rows)
    assert summary["labels"] == list(LABELS) or tuple(summary["labels"]) == LABELS
    with pytest.raises(SystemExit, match="--epochs"):
        train.train(train.parse_args([*args[:-6], "--epochs", "3", "--batch-size", "32", "--resume"]))

    export = load_script("export_emotion")
    onnx_path = tmp_path / "models" / "emotion.onnx"
    assert export.main([str(out / "best.pt"), "--out", str(onnx_path), "--data-dir", str(fer_dir)]) == 0

    from fer_overlay import EmotionClassifier

    clf = EmotionClassifier(model_path=onnx_path)
    assert clf.labels == LABELS and clf.input_size == 48
    faces = [np.full((60, 60), v, np.uint8) for v in (30, 200)]
    assert clf.predict(faces).shape == (2, 7)


@pytest.mark.slow
def test_compiled_run_drops_the_partial_batch_keeps_the_schedule_and_saves_plain_weights(
    fer_dir: Path, tmp_path: Path
) -> None:
    train = load_script("train_emotion")
    out = tmp_path / "run"
    # 192 faces in batches of 50: three full batches and a partial one of 42 that is dropped.
    # A schedule counting the dropped batch never finishes its cycle; one counting too few
    # makes OneCycleLR refuse the extra step.
    args = ["--data-dir", str(fer_dir), "--out", str(out), "--epochs", "2", "--batch-size", "50", "--threads", "1"]
    train.train(train.parse_args([*args, "--compile"]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["sched"]["_step_count"] - 1 == ckpt["sched"]["total_steps"] == 6
    # Checkpoints hold the plain module's weights (no torch.compile prefix), so they load as usual.
    build("student").load_state_dict(torch.load(out / "best.pt", weights_only=False)["model"])


def test_half_weight_export_halves_the_file_and_still_agrees_with_pytorch(fer_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "random.pt"
    torch.save({"arch": "student", "model": build("student").state_dict(), "acc": 0.5}, ckpt)
    export = load_script("export_emotion")
    full, half = tmp_path / "full" / "emotion.onnx", tmp_path / "half" / "emotion.onnx"
    assert export.main([str(ckpt), "--out", str(full), "--data-dir", str(fer_dir)]) == 0
    assert export.main([str(ckpt), "--out", str(half), "--data-dir", str(fer_dir), "--half-weights", "--int8"]) == 0
    assert half.stat().st_size < 0.55 * full.stat().st_size

    from fer_overlay import EmotionClassifier

    saved = torch.load(half.with_suffix(".pt"), map_location="cpu", weights_only=False)
    assert all(v.dtype == torch.float16 for v in saved["model"].values() if v.is_floating_point())
    net = build("student").eval()
    net.load_state_dict(saved["model"])
    faces = [np.random.default_rng(i).integers(0, 256, (48, 48), dtype=np.uint8) for i in range(6)]
    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(normalise(np.stack(faces)))), -1).numpy()
    got = EmotionClassifier(model_path=half, providers=["CPUExecutionProvider"]).predict(faces)
    np.testing.assert_allclose(got, want, atol=1e-4)
    unrounded = EmotionClassifier(model_path=full, providers=["CPUExecutionProvider"]).predict(faces)
    np.testing.assert_allclose(got, unrounded, atol=1e-2)  # float16 rounding moves little
    int8 = half.with_name("emotion_int8.onnx")
    assert EmotionClassifier(model_path=int8, providers=["CPUExecutionProvider"]).predict(faces).shape == (6, 7)

    import onnx

    def meta(path: Path) -> dict[str, str]:
        return {p.key: p.value for p in onnx.load(str(path)).metadata_props}

    # The int8 file carries the fp32 file's metadata plus how it was quantised.
    assert {k: v for k, v in meta(int8).items() if not k.startswith("int8_")} == meta(half)
    assert meta(int8)["int8_reduce_range"] == "1" and meta(half)["arch"] == "student"
    with pytest.raises(SystemExit, match="float16-exact"):
        export.store_half(onnx.load(str(full)))


def untrained_checkpoint_and_working_model(tmp_path: Path, arch: str) -> tuple[Path, Path]:
    """A checkpoint of `arch` to export, and a models/emotion.onnx that must survive a failed export."""
    ckpt = tmp_path / f"{arch}.pt"
    torch.save({"arch": arch, "model": build(arch).state_dict(), "acc": 0.5}, ckpt)
    out = tmp_path / "models" / "emotion.onnx"
    out.parent.mkdir()
    out.write_bytes(b"the working model")
    return ckpt, out


def test_oversized_export_is_refused_and_keeps_the_existing_model(fer_dir: Path, tmp_path: Path) -> None:
    ckpt, out = untrained_checkpoint_and_working_model(tmp_path, "student-48")
    export = load_script("export_emotion")
    with pytest.raises(SystemExit, match="over the 10 MiB limit; try --half-weights"):
        export.main([str(ckpt), "--out", str(out), "--data-dir", str(fer_dir)])
    assert out.read_bytes() == b"the working model"
    assert sorted(p.name for p in out.parent.iterdir()) == ["emotion.onnx"]


def test_export_that_disagrees_with_pytorch_keeps_the_existing_model(
        fer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt, out = untrained_checkpoint_and_working_model(tmp_path, "student")
    export = load_script("export_emotion")
    monkeypatch.setattr(export, "verify", lambda *_: 0.5)  # as if the graph were exported wrongly
    with pytest.raises(SystemExit, match="disagree by 5.00e-01"):
        export.main([str(ckpt), "--out", str(out), "--data-dir", str(fer_dir)])
    assert out.read_bytes() == b"the working model"
    assert sorted(p.name for p in out.parent.iterdir()) == ["emotion.onnx"]


def test_a_run_stopped_and_resumed_equals_the_same_run_in_one_go(fer_dir: Path, tmp_path: Path) -> None:
    """Every random stream (shuffle, augmentation, crops, mixup and cutmix, extra draws, dropout) is in last.pt."""
    train = load_script("train_emotion")
    extra = tmp_path / "extra.npz"
    rng = np.random.default_rng(1)
    np.savez(extra, images=rng.integers(0, 256, (40, 48, 48)).astype(np.uint8), labels=np.full(40, 6))
    common = ["--data-dir", str(fer_dir), "--epochs", "3", "--batch-size", "32", "--threads", "1",
              "--soft-labels", "0.5", "--mixup", "0.4", "--cutmix", "1.0", "--mixup-p", "0.8", "--crop", "44",
              "--extra", str(extra), "--extra-per-epoch", "16"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    train.train(train.parse_args([*common, "--out", str(whole)]))
    stopped = train.train(train.parse_args([*common, "--out", str(split), "--stop-after", "1"]))
    assert stopped["stopped_after"] == 1
    summary = train.train(train.parse_args([*common, "--out", str(split), "--resume"]))
    assert summary["crop"] == 44 and 0 <= summary["best_val_acc_ten_crop"] <= 1
    a = torch.load(whole / "last.pt", weights_only=False)
    b = torch.load(split / "last.pt", weights_only=False)
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.allclose(value.float(), b[key][name].float(), atol=1e-6), (key, name)
    rows = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(0 <= r["val_ferplus_acc"] <= 1 for r in rows)
