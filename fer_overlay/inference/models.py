"""Where model files live. Bundled models sit in the repo's `models/` folder; the app is
installed editable (scripts/install.py), so that folder is next to the package."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

from ..errors import ModelError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
EMOTION_MODEL = "emotion.onnx"
EMOTION_MODEL_INT8 = "emotion_int8.onnx"
# Set to "1" by scripts/export_emotion.py --int8 once it has checked that every int8 weight
# lies in [-64, 64] (quantised with reduce_range): such a file cannot overflow the int16
# pair sums of the int8 kernels on x86 CPUs without VNNI (fer_overlay/inference/cpu.py), so it is
# right on every CPU. Files without the key are only known right where VNNI/AMX runs them.
INT8_REDUCE_RANGE_KEY = "int8_reduce_range"


class Precision(str, Enum):
    """Which bundled emotion file runs. AUTO takes int8 on the CPU provider where it is known
    to match fp32 (a CPU with VNNI/AMX, or an int8 file marked reduce-range; about half the
    latency, models/README.md) and fp32 otherwise and on GPU providers, which run the int8
    file's quantise/dequantise graph poorly. `classify.pick_precision` decides and says why."""

    AUTO = "auto"
    FP32 = "fp32"
    INT8 = "int8"


BUNDLED_EMOTION: dict[Precision, str] = {Precision.FP32: EMOTION_MODEL, Precision.INT8: EMOTION_MODEL_INT8}


def models_dir() -> Path:
    return Path(os.environ.get("FER_OVERLAY_MODELS", MODELS_DIR))


def bundled(name: str) -> Path:
    path = models_dir() / name
    if not path.is_file():
        raise ModelError(
            f"bundled model {name} not found in {path.parent}; reinstall from a full checkout "
            "(python scripts/install.py) or set FER_OVERLAY_MODELS to the folder that holds it"
        )
    return path


def onnx_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata_props, read without starting an inference session."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, the OS OSError
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return {p.key: p.value for p in proto.metadata_props}


def package_file(package: str, relative: str, hint: str) -> Path:
    """A model file shipped inside an installed PyPI package (never downloaded)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed; {hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelError(f"{path} is missing from the installed {package} package; {hint}")
    return path
