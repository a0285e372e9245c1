"""The int8 file is right on CPUs without VNNI too, checked on an emulated AVX2-only CPU.

onnxruntime picks its int8 kernels by CPUID: with VNNI or AMX the dot products are exact
int32 sums; on AVX2 (most laptops before 2020-21, AMD before Zen 4) pairs of uint8 x int8
products are added into a saturating int16 first. The suite mostly runs on VNNI machines, so
this test runs `scripts/int8_agreement.py` under qemu's user-mode emulation of an AVX2-only
EPYC (Rome), where onnxruntime dispatches to its AVX2 kernels, and compares with this CPU.
The 8-bit-weight file that the reduce-range recipe replaced is the control: under emulation
it must fall away from fp32 well beyond the shipped file, or the emulation is not reaching the
kernels that saturate. That check uses the emulated run alone, so it holds on any host: on an
AVX2-only host the native run saturates too (seen on a 2026-12-02 EPYC), and the two agree.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require_module, require_program
from script_loader import load_script

FACES = 256
EMULATED_CPU = "EPYC-Rome"  # AVX2, no AVX-512, no VNNI

agreement = load_script("int8_agreement")


@pytest.fixture(scope="module")
def qemu() -> str:
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("emulates an x86-64 CPU on an x86-64 host")
    return require_program("qemu-x86_64", "apt-get install qemu-user")


def top_classes(command: list[str], models: list[Path], data_dir: Path, out: Path) -> tuple[dict[str, np.ndarray], str]:
    args = [*command, str(REPO / "scripts" / "int8_agreement.py"), *map(str, models),
            "--data-dir", str(data_dir), "--limit", str(FACES), "--save", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(out) as saved:
        return {k: saved[k] for k in saved.files}, done.stderr


@pytest.mark.parametrize("model", ["emotion", "emotion_ferplus"])
def test_the_reduce_range_int8_file_gives_the_same_classes_on_an_avx2_only_cpu(qemu, fer_public_test, tmp_path,
                                                                               model):
    require_module("torch", "python3 scripts/install.py --train")  # the export script imports it
    export = load_script("export_emotion")
    data_dir = fer_public_test.parent
    x, _ = agreement.publictest(data_dir, 0)
    control = tmp_path / f"{model}_8bit.onnx"  # the first int8 file's recipe, full 8-bit weights,
    export.quantize_qdq(REPO / "models" / f"{model}.onnx", control, x[-512:], reduce_range=False)  # calibrated off
    # the faces compared
    models = [REPO / "models" / f"{model}.onnx", REPO / "models" / f"{model}_int8.onnx", control]
    here, _ = top_classes([sys.executable], models, data_dir, tmp_path / "here.npz")
    avx2, log = top_classes([qemu, "-cpu", EMULATED_CPU, sys.executable], models, data_dir, tmp_path / "avx2.npz")
    assert "CPUID: AVX2" in log and "AVX512" not in log, log  # the emulated CPU is what onnxruntime saw

    fp32, shipped, old = (m.name for m in models)
    # The control saturates there: it leaves fp32's class on 11-16% of these faces, the shipped
    # file on 1.6% (measured natively on an AVX2-only EPYC): the emulation reaches the AVX2 kernels.
    assert np.mean(avx2[old] != avx2[fp32]) - np.mean(avx2[shipped] != avx2[fp32]) >= 0.03
    # The shipped file cannot saturate (7-bit weights), so AVX2 computes what VNNI/AMX compute.
    assert np.mean(avx2[shipped] == here[shipped]) >= 0.995
