from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from fer_overlay import runtime
from fer_overlay.errors import ModelError

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
    with caplog.at_level(logging.WARNING, logger="fer_overlay.runtime"):
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
