"""Where model files live. Bundled models sit in the repo's `models/` folder; the app is
installed editable (scripts/install.py), so that folder is next to the package."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

from .errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
EMOTION_MODEL = "emotion.onnx"
EMOTION_MODEL_INT8 = "emotion_int8.onnx"


class Precision(str, Enum):
    """Which bundled emotion file runs. AUTO takes int8 on the CPU provider (half the latency
    at the same accuracy, models/README.md) and fp32 on GPU providers, which run the int8
    file's quantise/dequantise graph poorly."""

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
