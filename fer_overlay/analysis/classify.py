"""EmotionClassifier: the bundled FER model behind a small, batched API."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, ModelError
from ..inference import runtime
from ..inference.cpu import CpuFeatures, probe
from ..inference.models import (
    INT8_REDUCE_RANGE_KEY,
    EmotionModel,
    Precision,
    bundled,
    emotion_file,
    models_dir,
    onnx_metadata,
)
from ..types import LABELS, NUM_CLASSES

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


@dataclass(frozen=True)
class PrecisionChoice:
    """Which bundled emotion file runs and why: logged once, shown by `fer-overlay doctor`."""

    precision: Precision
    reason: str
    model: EmotionModel = EmotionModel.FER2013

    @property
    def file(self) -> str:
        return emotion_file(self.model, self.precision)

    def describe(self) -> str:
        return f"{self.precision.value} ({self.file}) — {self.reason}"


def int8_reduce_range(path: Path) -> bool:
    """Whether the exporter marked this int8 file as 7-bit weights (right without VNNI)."""
    try:
        return onnx_metadata(path).get(INT8_REDUCE_RANGE_KEY) == "1"
    except ModelError as exc:
        log.warning("%s; treating it as not reduce-range", exc)
        return False


def pick_precision(
    precision: Precision, first_provider: str, int8_file: Path | None, cpu: CpuFeatures | None = None,
    model: EmotionModel = EmotionModel.FER2013,
) -> PrecisionChoice:
    """Resolve AUTO: int8 only where it is known to match fp32, fp32 everywhere else.

    `int8_file` is the bundled int8 file, None where it is not installed; `cpu` defaults to
    this machine (:func:`fer_overlay.inference.cpu.probe`). On the CPU provider int8 runs where the CPU
    has VNNI/AMX (exact int32 dot products) or where the file is reduce-range (7-bit weights,
    which the int16 pair sums of the AVX2/AVX-512 kernels cannot overflow). A file without
    the mark on an x86 CPU without VNNI would saturate there (2.3-2.5 points below fp32 on
    PublicTest), so it falls back to fp32; on other CPUs such a file was never measured.
    """
    cpu = cpu or probe()
    if precision is Precision.FP32:
        return PrecisionChoice(precision, "asked for fp32", model)
    if precision is Precision.INT8:
        if first_provider == runtime.CPU and int8_file is not None and cpu.is_x86 and cpu.vnni is None \
                and not int8_reduce_range(int8_file):
            return PrecisionChoice(precision, "asked for int8, although the CPU has no VNNI and the int8 file is "
                                              "not reduce-range: expect lower accuracy than fp32", model)
        return PrecisionChoice(precision, "asked for int8", model)
    if first_provider != runtime.CPU:
        return PrecisionChoice(Precision.FP32, f"runs on {first_provider}; int8 is for the CPU provider", model)
    if int8_file is None:
        return PrecisionChoice(Precision.FP32, f"{emotion_file(model, Precision.INT8)} is not installed", model)
    if cpu.vnni is not None:
        return PrecisionChoice(Precision.INT8, f"CPU has {cpu.vnni}", model)
    no_vnni = "CPU has no VNNI" if cpu.is_x86 else f"{cpu.arch} CPU"
    if int8_reduce_range(int8_file):
        return PrecisionChoice(Precision.INT8, f"{no_vnni}; the int8 file is reduce-range (7-bit weights "
                                               "cannot saturate)", model)
    why = "it would saturate there" if cpu.is_x86 else "it is only known right on x86 with VNNI"
    return PrecisionChoice(Precision.FP32, f"{no_vnni} and the int8 file is not reduce-range ({why})", model)


@functools.cache
def _log_once(choice: PrecisionChoice) -> None:
    """Every classifier in a process makes the same choice; the log says it once."""
    level = logging.WARNING if "expect lower accuracy" in choice.reason else logging.INFO
    log.log(level, "emotion model: %s", choice.describe())
    log.debug("CPU: %s", probe().describe())


class EmotionClassifier:
    """Seven-class facial-expression classifier (FER2013 classes) on onnxruntime.

    >>> clf = EmotionClassifier()                     # bundled model, best provider
    >>> clf.provider, clf.precision                   # e.g. CPU and Precision.INT8 (see Precision)
    >>> clf.precision_choice.describe()               # "int8 (emotion_int8.onnx) — CPU has AVX512-VNNI"
    >>> probs = clf.predict([face_bgr, face_grey])    # (2, 7) float32, rows sum to 1
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        flip_tta: bool = False,
        precision: Precision | str = Precision.AUTO,
        model: EmotionModel | str = EmotionModel.FER2013,
    ) -> None:
        try:
            family = EmotionModel(model)
        except ValueError:
            raise ValueError(f"model must be one of {[m.value for m in EmotionModel]}, got {model!r}") from None
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
        #: Why that file (see pick_precision), or None for a model_path the caller chose.
        self.precision_choice: PrecisionChoice | None = None
        if model_path is not None:
            path = Path(model_path)
        else:
            first = runtime.resolve_providers(providers)[0]
            int8 = models_dir() / emotion_file(family, Precision.INT8)
            self.precision_choice = pick_precision(wanted, first, int8 if int8.is_file() else None, model=family)
            self.precision = self.precision_choice.precision
            _log_once(self.precision_choice)
            path = bundled(self.precision_choice.file)
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
