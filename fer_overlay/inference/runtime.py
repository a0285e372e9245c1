"""The one place that imports onnxruntime: execution-provider choice and session creation.

Providers are tried in order CUDA, DirectML, CoreML, CPU. What a session *really* runs
on is read back from the session (onnxruntime-gpu silently falls back to CPU when the
CUDA libraries are missing), and logged.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..specs import SpecError, parse_provider

log = logging.getLogger(__name__)

PREFERENCE: tuple[str, ...] = (
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)
CPU = "CPUExecutionProvider"
# Every distribution that installs the same top-level `onnxruntime` package.
ORT_DISTRIBUTIONS: tuple[str, ...] = (
    "onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
    "onnxruntime-silicon", "onnxruntime-qnn", "ort-nightly", "ort-nightly-gpu",
)


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError(
            "onnxruntime is not installed; run `python scripts/install.py` (it picks the right build)"
        ) from exc
    return onnxruntime


def available_providers() -> list[str]:
    return list(_ort().get_available_providers())


def resolve_providers(requested: Sequence[str] | None = None, available: Sequence[str] | None = None) -> list[str]:
    """Providers to ask for, best first, always ending with CPU.

    `requested` (e.g. from the CLI or settings) overrides the preference order; names
    that this onnxruntime build does not offer are dropped with a warning.
    """
    available = list(available_providers() if available is None else available)
    wanted = provider_names(requested) if requested else list(PREFERENCE)
    unknown = [p for p in wanted if p not in available]
    if requested and unknown:
        log.warning("execution providers not available in this onnxruntime build: %s", ", ".join(unknown))
    chosen = [p for p in wanted if p in available]
    if CPU not in chosen and CPU in available:
        chosen.append(CPU)
    if not chosen:
        raise ModelError(f"no usable execution provider: asked for {wanted}, this build offers {available}")
    return chosen


def provider_names(requested: Sequence[str]) -> list[str]:
    """onnxruntime's spelling of each name (the grammar is in :mod:`fer_overlay.specs`):
    "cudaexecutionprovider" becomes CUDAExecutionProvider; "cuda" is a ModelError, not a
    name onnxruntime would silently skip."""
    try:
        return [parse_provider(str(name)).name for name in requested]
    except SpecError as exc:
        raise ModelError(str(exc)) from None


@dataclass(frozen=True)
class SessionInfo:
    path: Path
    requested: tuple[str, ...]
    active: tuple[str, ...]

    @property
    def provider(self) -> str:
        return self.active[0]


def default_threads() -> int:
    env = os.environ.get("FER_OVERLAY_THREADS", "").strip()
    if env:
        if env.isdigit() and int(env) > 0:
            return int(env)
        log.warning("FER_OVERLAY_THREADS=%r is not a positive whole number; using the default", env)
    return max(1, min(os.cpu_count() or 1, 8))


def live_threads() -> int:
    """Inference threads for the live app: all cores but one, which the output thread and the
    screen grabber need to keep the feed steady ($FER_OVERLAY_THREADS overrides)."""
    env = os.environ.get("FER_OVERLAY_THREADS", "").strip()
    if env:
        if env.isdigit() and int(env) > 0:
            return int(env)
        log.warning("FER_OVERLAY_THREADS=%r is not a positive whole number; using the default", env)
    return max(1, min((os.cpu_count() or 2) - 1, 8))


def create_session(
    model: Path | bytes,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    name: str = "model",
):
    """Open an ONNX model, CPU fallback included; raises ModelError with the file named."""
    ort = _ort()
    chosen = resolve_providers(providers)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    # Idle inference threads sleep instead of spinning: the live app's output thread and the
    # screen grabber need those cores between inferences (a laptop's battery too).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # onnxruntime's own warnings go to stderr, not our log
    label = str(model) if isinstance(model, Path) else f"<{name} in memory>"
    if isinstance(model, Path) and not model.is_file():
        raise ModelError(f"{name} model not found: {model}")
    source = str(model) if isinstance(model, Path) else model
    try:
        session = ort.InferenceSession(source, sess_options=opts, providers=chosen)
    except Exception as exc:  # onnxruntime raises bare RuntimeError/Fail/InvalidProtobuf
        raise ModelError(f"cannot load {name} model {label}: {exc}".strip()) from exc
    active = tuple(session.get_providers())
    if active[0] != chosen[0]:
        log.warning("%s: asked for %s but onnxruntime is running on %s", name, chosen[0], active[0])
    log.info("%s: running on %s", name, active[0])
    path = model if isinstance(model, Path) else Path(label)
    return session, SessionInfo(path=path, requested=tuple(chosen), active=active)


def installed_builds() -> list[str]:
    """onnxruntime distributions installed side by side (more than one is a broken install)."""
    found = []
    for dist in ORT_DISTRIBUTIONS:
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
