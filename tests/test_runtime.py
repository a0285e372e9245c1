from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from fer_overlay.errors import ModelError
from fer_overlay.inference import runtime

CUDA, DML, CPU = "CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider"


def tiny_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_preference_order_cuda_first_cpu_last():
    assert runtime.resolve_providers(available=[CPU, DML, CUDA]) == [CUDA, DML, CPU]
    assert runtime.resolve_providers(available=[CPU]) == [CPU]


def test_explicit_providers_override_and_unknown_ones_are_dropped(caplog):
    with caplog.at_level(logging.WARNING):
        assert runtime.resolve_providers([DML], available=[CUDA, CPU]) == [CPU]
    assert "DmlExecutionProvider" in caplog.text
    assert runtime.resolve_providers([CPU, CUDA], available=[CUDA, CPU]) == [CPU, CUDA]


def test_no_usable_provider_is_a_clear_error():
    with pytest.raises(ModelError, match="no usable execution provider"):
        runtime.resolve_providers(available=["WeirdProvider"])


def test_session_reports_what_really_runs_when_cuda_is_missing(monkeypatch, caplog):
    # Pretend this is onnxruntime-gpu without the CUDA libraries: CUDA is listed but cannot start.
    ort = runtime._ort()
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    with caplog.at_level(logging.WARNING, logger="fer_overlay.inference.runtime"):
        session, info = runtime.create_session(tiny_model(), name="tiny")
    assert info.requested[0] == CUDA
    assert info.provider == CPU
    assert "asked for CUDAExecutionProvider but onnxruntime is running on CPUExecutionProvider" in caplog.text
    out = session.run(None, {"x": np.array([[-1.0, 2.0]], np.float32)})[0]
    assert out.tolist() == [[0.0, 2.0]]


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        runtime.create_session(tmp_path / "nope.onnx", name="x")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelError, match="bad.onnx"):
        runtime.create_session(bad, name="x")


def test_installed_builds_lists_exactly_one_here():
    builds = runtime.installed_builds()
    assert len(builds) == 1, f"more than one onnxruntime build installed: {builds}"


def test_tiny_model_is_valid_onnx():
    onnx.checker.check_model(onnx.load_from_string(tiny_model()))


def test_live_threads_leave_a_core_for_the_output(monkeypatch):
    monkeypatch.delenv("FER_OVERLAY_THREADS", raising=False)
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 2)
    assert runtime.live_threads() == 1
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 1)
    assert runtime.live_threads() == 1
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 64)
    assert runtime.live_threads() == 8
    monkeypatch.setenv("FER_OVERLAY_THREADS", "3")
    assert runtime.live_threads() == 3
    monkeypatch.setenv("FER_OVERLAY_THREADS", "lots")
    assert runtime.live_threads() == 8


# Abridged /proc/cpuinfo of an AVX2-only AMD EPYC (Zen 2) and an ARM server core.
EPYC_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni

processor\t: 1
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
"""


def test_cpu_probe_reads_the_int8_extensions_from_a_faked_cpuinfo():
    from fer_overlay.inference import cpu

    epyc = cpu.parse_cpuinfo(EPYC_CPUINFO, "x86_64")
    assert epyc.is_x86 and epyc.avx2 and epyc.vnni is None and not (epyc.avx512_vnni or epyc.avx_vnni)
    assert epyc.describe() == "AMD EPYC 7B12, x86_64: AVX2 (from /proc/cpuinfo)"
    spr = cpu.parse_cpuinfo(EPYC_CPUINFO.replace("sha_ni", "avx512f avx512_vnni avx_vnni amx_int8"), "x86_64")
    assert spr.vnni == "AVX512-VNNI" and spr.amx_int8 and spr.avx_vnni
    alder = cpu.from_flags(["avx2", "avx_vnni"], "AMD64")  # Windows spells the architecture AMD64
    assert alder.is_x86 and alder.vnni == "AVX-VNNI"
    arm = cpu.parse_cpuinfo(ARM_CPUINFO, "aarch64")
    assert arm.is_arm and arm.dotprod and not arm.i8mm and arm.vnni is None
    assert "arm64: dotprod" in arm.describe()


def test_cpu_probe_falls_back_to_numpy_and_probes_this_machine(tmp_path, monkeypatch):
    import numpy

    from fer_overlay.inference import cpu

    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "no-cpuinfo")  # as on Windows and macOS
    cpu.probe.cache_clear()
    try:
        assert cpu.probe().source == "numpy"
    finally:
        cpu.probe.cache_clear()
    monkeypatch.undo()

    features = {"AVX2": True, "AVX512VNNI": False, "ASIMDDP": False}
    assert cpu.from_numpy_features(features, "AMD64").vnni is None
    assert cpu.from_numpy_features({**features, "AVX512VNNI": True}, "x86_64").vnni == "AVX512-VNNI"
    assert cpu.from_numpy_features({"ASIMDDP": True}, "arm64").dotprod
    # numpy's own table is there on every platform, and agrees with the kernel where both exist.
    table = cpu._numpy_features()
    assert isinstance(table, dict) and "AVX2" in table and numpy.__version__
    here = cpu.probe()
    assert here is cpu.probe() and here.arch  # probed once
    if here.is_x86 and here.source == str(cpu.CPUINFO):
        assert here.avx2 == bool(table["AVX2"]) and here.avx512_vnni == bool(table["AVX512VNNI"])
