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


class EmotionModel(str, Enum):
    """Which bundled emotion network runs (models/README.md has both on the card).

    FER2013 (the default) is trained on FER2013's labels and chosen by them; FERPLUS is
    trained on the votes of FER+'s ten annotators per face (and real calm and smiling photos):
    it agrees with people far more (81% against 69% of FER+ plurality labels), calls far fewer
    calm faces negative (3% of neutral photos against 50%) and reads more of the labelled
    photos (57% against 50%), at 3 points less on FER2013's own labels."""

    FER2013 = "fer2013"
    FERPLUS = "ferplus"


BUNDLED_EMOTION: dict[Precision, str] = {Precision.FP32: EMOTION_MODEL, Precision.INT8: EMOTION_MODEL_INT8}
_BUNDLED: dict[EmotionModel, dict[Precision, str]] = {
    EmotionModel.FER2013: BUNDLED_EMOTION,
    EmotionModel.FERPLUS: {Precision.FP32: "emotion_ferplus.onnx", Precision.INT8: "emotion_ferplus_int8.onnx"},
}


def emotion_file(model: EmotionModel, precision: Precision) -> str:
    """The bundled file name of ``model`` at ``precision`` (FP32 or INT8)."""
    return _BUNDLED[model][precision]


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
