"""fer_overlay: live class-mood overlay for online teaching."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .inference.models import Precision
from .types import CLASSES, LABELS, Emotion, Faces, Frame

__version__ = "0.1.0"
__all__ = ["CLASSES", "LABELS", "Emotion", "EmotionClassifier", "Faces", "Frame", "Precision", "__version__"]

if TYPE_CHECKING:
    from .analysis.classify import EmotionClassifier


def __getattr__(name: str):
    if name == "EmotionClassifier":
        from .analysis.classify import EmotionClassifier

        return EmotionClassifier
    raise AttributeError(f"module 'fer_overlay' has no attribute {name!r}")
