"""FER+ votes as targets, the blended target, mixup and cutmix: the rules the training loop relies on."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch", "python3 scripts/install.py --train")

from fer_overlay.training.data import FERPLUS_COLUMNS, LABELS, ferplus_targets  # noqa: E402
from fer_overlay.training.targets import beta_sample, blend_targets, cutmix, mixup, soft_cross_entropy  # noqa: E402


def votes(**counts: int) -> list[int]:
    return [counts.get(c, 0) for c in FERPLUS_COLUMNS]


def test_ferplus_votes_map_to_our_classes_and_mark_not_faces() -> None:
    rows = np.array([
        votes(anger=7, neutral=2, unknown=1),       # angry plurality; unknown left out of the target
        votes(happiness=5, contempt=5),             # contempt has no class: happy only, but a tie for plurality
        votes(NF=8, neutral=2),                     # not a face
        [-1] * 10,                                  # dropped by FER+
        votes(contempt=9, unknown=1),               # no usable vote: falls back to the FER2013 label
    ])
    labels = np.array([0, 3, 6, 2, 4])
    soft, plurality, not_face = ferplus_targets(rows, labels)
    angry, happy, sad, neutral = (LABELS.index(c) for c in ("angry", "happy", "sad", "neutral"))
    np.testing.assert_allclose(soft[0, [angry, neutral]], [7 / 9, 2 / 9], rtol=1e-6)
    np.testing.assert_allclose(soft[1, happy], 1.0)
    np.testing.assert_allclose(soft[4, sad], 1.0)
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-6)
    assert plurality.tolist() == [angry, -1, -1, -1, -1]
    assert not_face.tolist() == [False, False, True, True, False]


def test_blended_target_interpolates_smoothed_label_and_votes() -> None:
    labels = torch.tensor([3])
    soft = torch.zeros(1, 7)
    soft[0, 6] = 1.0
    t = blend_targets(labels, soft, soft_weight=0.5, smoothing=0.0)
    assert t[0, 3].item() == pytest.approx(0.5) and t[0, 6].item() == pytest.approx(0.5)
    plain = blend_targets(labels, soft, soft_weight=0.0, smoothing=0.1)
    assert plain[0, 3].item() == pytest.approx(0.9 + 0.1 / 7) and plain.sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="soft_weight"):
        blend_targets(labels, soft, 1.5, 0.0)
    # With a one-hot target the soft loss is ordinary cross-entropy.
    logits = torch.tensor([[0.2, -1.0, 0.3, 2.0, 0.0, 0.1, 0.5]])
    expect = torch.nn.functional.cross_entropy(logits, labels)
    assert soft_cross_entropy(logits, blend_targets(labels, soft, 0.0, 0.0)).item() == pytest.approx(expect.item())


def test_mixup_keeps_each_face_dominant_and_targets_normalised() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.stack([torch.full((1, 4, 4), float(i)) for i in range(6)])
    target = torch.eye(7)[torch.arange(6)]
    mx, mt = mixup(x, target, 0.4, gen)
    assert torch.allclose(mt.sum(1), torch.ones(6))
    assert (mt.max(1).values >= 0.5 - 1e-6).all()
    # The pixel blend and the target blend use the same weight and partner.
    own = mt[torch.arange(6), torch.arange(6)]
    partner_value = (mx[:, 0, 0, 0] - own * torch.arange(6)) / (1 - own).clamp_min(1e-6)
    assert torch.allclose(partner_value.round(), partner_value, atol=1e-4)
    draws = [beta_sample(0.4, torch.Generator().manual_seed(s)) for s in range(200)]
    assert 0.4 < float(np.mean(draws)) < 0.6 and min(draws) < 0.1 and max(draws) > 0.9
    with pytest.raises(ValueError, match="alpha"):
        beta_sample(2.0, gen)


def test_cutmix_pastes_one_box_and_weights_the_target_by_its_area() -> None:
    x = torch.stack([torch.full((1, 12, 12), float(i)) for i in range(8)])
    target = torch.eye(8)  # face i is class i, so a target's weights name whose pixels it holds
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        mx, mt = cutmix(x, target, 1.0, gen)
        assert torch.allclose(mt.sum(1), torch.ones(8))
        for i in range(8):
            own = (mx[i, 0] == i).float().mean().item()
            # Where the partner is a different face, its share of pixels is its share of the target.
            if own < 1.0:
                assert mt[i, i].item() == pytest.approx(own, abs=1e-6)
                assert own >= 0.5 - 1e-6
                partner = int(mt[i].argsort()[-2])
                assert set(mx[i, 0].unique().tolist()) == {float(i), float(partner)}
        # One box per batch: every face changed in the same rectangle.
        changed = [(mx[i, 0] != i) for i in range(8) if (mx[i, 0] != i).any()]
        if len(changed) > 1:
            assert all(torch.equal(changed[0], c) for c in changed[1:])
    assert cutmix(x, target, 0.0, torch.Generator())[0] is x
    # Resumable: the same generator state pastes the same boxes.
    a = cutmix(x, target, 1.0, torch.Generator().manual_seed(3))[0]
    b = cutmix(x, target, 1.0, torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)
