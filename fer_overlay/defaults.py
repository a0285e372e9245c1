"""Defaults shared by the settings file (config.py) and the Options classes that code builds
directly: each lives here once, so a settings file left empty and an ``EngineOptions()``
made in a test or a script mean the same thing. Bounds live with the grammars (specs.py)
and the settings' rules."""

from __future__ import annotations

from .types import View

SOURCE = "monitor:1"
SINK = "virtualcam"
FPS = 30.0
SIZE = (1280, 720)
VIEW = View.GALLERY
DETECTOR = "centerface"
DETECT_EVERY = 3  # detection = every_k: frames between detector runs
DETECT_BUDGET_MS = 15.0  # detection = changed: detector time per analysed frame
ROUND_ROBIN_S = 1.5  # detection = changed: every tile is looked at again at least this often
CLASSIFY_BUDGET_MS = 0.0  # 0: every readable face is classified on every frame
# The gallery greys the caption of an emotion read longer ago than this (a face turned away or
# blurred, or waiting its turn under a classify budget); the smoother says "unknown" after
# SmoothingOptions.stale_after_s.
FRESH_EMOTION_S = 1.0
CALIBRATION_S = 180.0  # per-student resting baseline: the first minutes of a class
ATTENTION_AFTER_S = 60.0  # low mood for this long flags a student
# `analyze --record`: frames analysed per second of video. A live run analyses at about this
# rate on a laptop, and a session keeps one state per second, so more would only cost time.
RECORD_ANALYSIS_FPS = 10.0
# Linux nice of the live app's threads (the output thread keeps 0). The text pass reading a
# new face's label runs as the analysis does: until it does the face has no student key.
ANALYSIS_NICE = 10
TEXT_PASS_NICE = 19  # re-reads of labels already known
