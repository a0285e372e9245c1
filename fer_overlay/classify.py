"""EmotionClassifier: the bundled FER model behind a small, batched API."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import runtime
from .errors import InputError, ModelError
from .models import BUNDLED_EMOTION, EMOTION_MODEL_INT8, Precision, bundled, models_dir
from .types import LABELS, NUM_CLASSES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmotionModelSpec:
    """The input contract; the ONNX file must declare the same values in its metadata."""

    input_size: int = 48
    mean: float = 0.5
    std: float = 0.25
    labels: tuple[str, ...] = LABELS
    input_name: str = "input"
    output_name: str = "probs"  # softmax is part of the graph


SPEC = EmotionModelSpec()
MAX_BATCH = 128  # bounds peak memory for galleries far beyond 49 tiles


def _check_metadata(session, path: Path) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    want = {
        "labels": ",".join(SPEC.labels), "input_size": str(SPEC.input_size),
        "mean": str(SPEC.mean), "std": str(SPEC.std),
    }
    bad = {k: meta.get(k) for k, v in want.items() if meta.get(k) != v}
    if bad:
        raise ModelError(
            f"{path} is not a fer_overlay emotion model: metadata {bad} differs from the expected {want}"
        )


def to_grey(crop: np.ndarray, index: int = 0) -> np.ndarray:
    """Grey uint8 (H, W) from grey, grey+1, BGR or BGRA uint8 input; errors name the crop."""
    if not isinstance(crop, np.ndarray):
        raise InputError(f"face {index}: expected a numpy image, got {type(crop).__name__}")
    if crop.dtype != np.uint8:
        raise InputError(f"face {index}: expected uint8 pixels, got {crop.dtype}")
    if crop.ndim in (2, 3) and (crop.shape[0] == 0 or crop.shape[1] == 0):
        raise InputError(f"face {index}: empty crop of shape {crop.shape}")
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    if crop.ndim == 2:
        grey = crop
    elif crop.ndim == 3 and crop.shape[2] == 3:
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    elif crop.ndim == 3 and crop.shape[2] == 4:
        grey = cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY)
    else:
        raise InputError(f"face {index}: expected H x W, H x W x 1, x 3 or x 4, got shape {crop.shape}")
    return grey


def normalise(grey: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 crops -> the model's (N, 1, S, S) float32 input, scaled as in training."""
    x = grey[:, None].astype(np.float32)
    x *= 1.0 / (255.0 * SPEC.std)
    x -= SPEC.mean / SPEC.std
    return x


def prepare(crops: Sequence[np.ndarray], size: int = SPEC.input_size) -> np.ndarray:
    """Resize arbitrary crops to the model input and normalise them."""
    batch = np.empty((len(crops), size, size), np.uint8)
    for i, crop in enumerate(crops):
        grey = to_grey(crop, i)
        # INTER_AREA when shrinking avoids the aliasing that FER2013's crops never show.
        interp = cv2.INTER_AREA if min(grey.shape) > size else cv2.INTER_LINEAR
        batch[i] = cv2.resize(grey, (size, size), interpolation=interp)
    return normalise(batch)


def pick_precision(precision: Precision, first_provider: str, int8_bundled: bool) -> Precision:
    """Resolve AUTO: int8 where the session will run on the CPU and the int8 file is there."""
    if precision is not Precision.AUTO:
        return precision
    return Precision.INT8 if first_provider == runtime.CPU and int8_bundled else Precision.FP32


class EmotionClassifier:
    """Seven-class facial-expression classifier (FER2013 classes) on onnxruntime.

    >>> clf = EmotionClassifier()                     # bundled model, best provider
    >>> clf.provider, clf.precision                   # e.g. CPU and Precision.INT8 (see Precision)
    >>> probs = clf.predict([face_bgr, face_grey])    # (2, 7) float32, rows sum to 1
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        flip_tta: bool = False,
        precision: Precision | str = Precision.AUTO,
    ) -> None:
        try:
            wanted = Precision(precision)
        except ValueError:
            raise ValueError(
                f"precision must be one of {[p.value for p in Precision]}, got {precision!r}"
            ) from None
        if model_path is not None and wanted is not Precision.AUTO:
            raise ValueError(
                f"precision={wanted.value!r} picks a bundled model file; it cannot be combined with "
                f"model_path={model_path}"
            )
        #: The bundled file's precision, or None for a model_path the caller chose.
        self.precision: Precision | None = None
        if model_path is not None:
            path = Path(model_path)
        else:
            first = runtime.resolve_providers(providers)[0]
            self.precision = pick_precision(wanted, first, (models_dir() / EMOTION_MODEL_INT8).is_file())
            path = bundled(BUNDLED_EMOTION[self.precision])
        self._session, self.info = runtime.create_session(path, providers, threads, name="emotion")
        _check_metadata(self._session, path)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != SPEC.input_name:
            raise ModelError(f"{path}: expected one input named {SPEC.input_name!r}")
        self.flip_tta = flip_tta

    @property
    def labels(self) -> tuple[str, ...]:
        return SPEC.labels

    @property
    def provider(self) -> str:
        """The execution provider the session really runs on."""
        return self.info.provider

    @property
    def rest_prior(self) -> tuple[float, ...] | None:
        """Mean output on neutral faces, recorded by the exporter; None for older files."""
        raw = self._session.get_modelmeta().custom_metadata_map.get("rest_prior")
        if not raw:
            return None
        values = tuple(float(v) for v in raw.split(","))
        return values if len(values) == NUM_CLASSES and min(values) > 0 else None

    @property
    def input_size(self) -> int:
        return SPEC.input_size

    def predict(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (N, 7) in `labels` order for N face crops (grey or BGR uint8, any size)."""
        if len(faces) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        return self.predict_prepared(prepare(faces))

    def predict_prepared(self, x: np.ndarray) -> np.ndarray:
        """Like predict, for input already made by :func:`prepare` (the pipeline's aligned crops)."""
        if x.ndim != 4 or x.shape[1:] != (1, SPEC.input_size, SPEC.input_size) or x.dtype != np.float32:
            raise InputError(f"prepared batch must be float32 (N, 1, 48, 48), got {x.dtype} {x.shape}")
        n = len(x)
        if n == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        if self.flip_tta:
            x = np.concatenate([x, x[:, :, :, ::-1]])
        out = np.concatenate([
            self._session.run([SPEC.output_name], {SPEC.input_name: np.ascontiguousarray(x[i : i + MAX_BATCH])})[0]
            for i in range(0, len(x), MAX_BATCH)
        ])
        if self.flip_tta:
            out = (out[:n] + out[n:]) * 0.5
        return out.astype(np.float32, copy=False)
