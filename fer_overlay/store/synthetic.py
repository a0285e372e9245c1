"""A made-up but plausible class, for the benchmark, the tests and report demos.

Each student random-walks between emotions (mostly neutral, a personal baseline), with
class-wide episodes on top (a joke, a confusing stretch, a quiz), late joiners, early
leavers, short absences and cameras switched off.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..types import CLASSES, NUM_CLASSES, Emotion
from .records import ClassSecond, StudentSecond
from .session_store import SessionStore

_FIRST = ("Ana", "Ben", "Chloé", "Dmitri", "Esra", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
          "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Yusuf",
          "Zoe")
_LAST = ("Alves", "Bauer", "Chen", "Dubois", "Eze", "Fischer", "García", "Hansen", "Ito", "Jensen", "Kowalski",
         "Lopez", "Müller", "Novak", "Okafor")
_I = {e: i for i, e in enumerate(CLASSES)}


def _mix(**weights: float) -> np.ndarray:
    p = np.full(NUM_CLASSES, 0.01)
    for name, w in weights.items():
        p[_I[Emotion(name)]] = w
    return p / p.sum()


@dataclass(frozen=True)
class Episode:
    start: int
    end: int
    mix: np.ndarray  # emotion probabilities while it lasts
    weight: float  # how strongly it overrides each student's baseline
    label: str  # the teacher's bookmark at its start; "" for none


def default_episodes(seconds: int) -> list[Episode]:
    """Scaled to the session length: a joke at 20 %, confusion at 50-60 %, a quiz at 80 %."""
    def at(f: float) -> int:
        return int(seconds * f)
    return [
        Episode(at(0.20), at(0.20) + max(20, seconds // 40), _mix(happy=0.75, surprise=0.15, neutral=0.1), 0.8, ""),
        Episode(at(0.50), at(0.60), _mix(sad=0.35, fear=0.2, angry=0.1, neutral=0.35), 0.7, "fractions"),
        Episode(at(0.80), at(0.80) + max(30, seconds // 30), _mix(happy=0.5, surprise=0.35, neutral=0.15), 0.7,
                "quiz"),
    ]


def student_names(n: int) -> list[str]:
    return [f"{_FIRST[i % len(_FIRST)]} {_LAST[(i * 7 + i // len(_FIRST)) % len(_LAST)]}" for i in range(n)]


def generate_seconds(
    seconds: int = 3600, n_students: int = 49, seed: int = 0, names: Sequence[str] | None = None,
    episodes: Sequence[Episode] | None = None,
) -> Iterator[tuple[ClassSecond, list[StudentSecond]]]:
    """Yield (class second, student rows) for t = 0 .. seconds-1; every roster student gets a row."""
    rng = np.random.default_rng(seed)
    keys = list(names) if names is not None else student_names(n_students)
    n = len(keys)
    eps = list(default_episodes(seconds) if episodes is None else episodes)
    baselines = np.stack([_mix(neutral=0.75, happy=0.12 + 0.1 * rng.random(), sad=0.05, surprise=0.04)
                          for _ in range(n)])
    # Presence: late joiners, early leavers, a few short breaks; some cameras off for long stretches.
    here = np.ones((seconds, n), bool)
    cam = np.ones((seconds, n), bool)
    for i in range(n):
        u = rng.random()
        if u < 0.06:
            here[: int(rng.integers(60, max(61, seconds // 6))), i] = False
        elif u < 0.10:
            here[seconds - int(rng.integers(60, max(61, seconds // 5))):, i] = False
        for _ in range(rng.poisson(0.6)):
            a = int(rng.integers(0, seconds))
            here[a: a + int(rng.integers(30, 300)), i] = False
        if rng.random() < 0.12:
            a = int(rng.integers(0, seconds))
            cam[a: a + int(rng.integers(seconds // 10, seconds // 2 + 2)), i] = False
    current = np.array([rng.choice(NUM_CLASSES, p=b) for b in baselines])
    last_change = np.full(n, -100)
    last_turn = -1000
    for t in range(seconds):
        active = [e for e in eps if e.start <= t < e.end]
        change = rng.random(n) < (0.10 if active and t - active[0].start < 15 else 0.025)
        for i in np.flatnonzero(change):
            p = baselines[i]
            if active:
                p = (1 - active[0].weight) * p + active[0].weight * active[0].mix
            new = int(rng.choice(NUM_CLASSES, p=p))
            if new != current[i]:
                current[i] = new
                last_change[i] = t
        unknown = rng.random(n) < 0.03
        conf = np.round(0.45 + 0.5 * rng.beta(4, 2, n), 3)
        rows = [
            StudentSecond(t, keys[i], Emotion.UNKNOWN if unknown[i] else CLASSES[current[i]], float(conf[i]),
                          None, bool(here[t, i]), bool(cam[t, i]))
            for i in range(n)
        ]
        visible = here[t] & cam[t]
        recent = int(np.count_nonzero((t - last_change <= 5) & visible))
        turn = recent >= max(4, int(0.25 * visible.sum())) and t - last_turn > 60
        last_turn = t if turn else last_turn
        yield ClassSecond.from_students(t, rows, turn=turn), rows


def record_synthetic(
    store: SessionStore, *, seconds: int = 3600, n_students: int = 49, seed: int = 0, anonymous: bool = False,
    names: Sequence[str] | None = None, source: str = "synthetic class",
) -> int:
    """Record a whole synthetic session (with bookmarks) and return its id."""
    eps = default_episodes(seconds)
    info = store.start_session(source, anonymous, {"synthetic": True, "seed": seed})
    for cs, rows in generate_seconds(seconds, n_students, seed, names, eps):
        store.append(info.id, cs, rows)
    for e in eps:
        if e.label and e.start < seconds:
            store.bookmark(info.id, e.start, e.label)
    store.end_session(info.id)
    return info.id
