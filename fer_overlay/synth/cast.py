"""Who is in the meeting: names and label suffixes, who has the camera off or shows a
profile photo, whose video is black, who speaks, who shares, and the teacher's self-view.

The original draws (names, camera-off choice, photo order) come first from the streams
they always used, so earlier seeds give the same class; every newer option draws from a
stream of its own, after them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

import numpy as np

from ..types import Emotion
from . import webcam
from .faces import FaceBank, FacePhoto
from .spec import Fidelity, GallerySpec
from .styles import Style
from .truth import TileKind

_SUFFIXES = ("(she/her)", "(he/him)", "(they/them)", "| Room {room}", "(Guest)", "(Co-host)")
DEVICE_LABEL = "iPhone"  # the label a phone joins with; classes often have two


@cache
def names() -> tuple[str, ...]:
    """The bundled "First Last" names (fer_overlay/assets/names.txt)."""
    text = resources.files("fer_overlay").joinpath("assets/names.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class Participant:
    pid: int
    kind: TileKind
    name: str | None = None
    shown: str | None = None  # name plus suffix, before fitting to the tile
    photo: FacePhoto | None = None  # FACE, AVATAR and SELFVIEW
    emotion: Emotion | None = None  # FACE and SELFVIEW only
    seed: int = 0
    muted: bool = True
    traits: webcam.Traits | None = None  # REAL cameras


@dataclass(frozen=True)
class Cast:
    people: tuple[Participant, ...]  # participants, then slides, in pid order
    selfview: Participant  # pid = number of tiles
    speaker: int | None  # pid of the active speaker
    sharer: int  # pid whose screen a share view shows
    screen_seed: int


def _suffixed(pid: int, name: str, rng: np.random.Generator) -> str:
    # Drawn whatever the outcome, so every participant consumes the same random numbers.
    roll, pick, room = rng.random(), rng.integers(len(_SUFFIXES)), rng.integers(1, 40)
    if pid == 0 and roll < 0.5:
        return f"{name} (Host)"
    if pid > 0 and roll < 0.2:
        return f"{name} {_SUFFIXES[pick].format(room=room)}"
    return name


def _pick(rng: np.random.Generator, items: Sequence[int], n: int) -> set[int]:
    return {int(v) for v in rng.choice(items, n, replace=False)} if n and items else set()


def _with_traits(p: Participant, pillarbox: bool) -> Participant:
    if p.kind not in (TileKind.FACE, TileKind.SELFVIEW):
        return p
    return replace(p, traits=webcam.traits(np.random.default_rng(p.seed), pillarbox=pillarbox))


def cast(spec: GallerySpec, bank: FaceBank) -> tuple[Cast, np.random.Generator]:
    """The class for ``spec``, and the stream the original grid draws its rooms from."""
    r_names, r_kinds, r_photos, r_content, r_new = (np.random.default_rng(s) for s in np.random.SeedSequence(
        spec.seed).spawn(5))
    pool = names()
    chosen = r_names.permutation(len(pool))
    picked = [pool[i] for i in chosen[: spec.participants]]
    shown = [_suffixed(i, n, r_names) for i, n in enumerate(picked)]
    off = set(r_kinds.choice(spec.participants, spec.camera_off_count, replace=False).tolist())
    order = r_photos.permutation(len(bank))
    photo_off = _pick(r_new, sorted(off), round(spec.avatar_photos * len(off)))
    empty = _pick(r_new, [p for p in range(spec.participants) if p not in off], spec.empty_count)
    for pid in _pick(r_new, list(range(spec.participants)), spec.duplicate_labels):
        picked[pid] = shown[pid] = DEVICE_LABEL
    seeds = r_new.integers(0, 2**31, spec.tiles + 1)
    muted = r_new.random(spec.participants) < 0.75
    teacher = pool[int(chosen[spec.participants])] if len(pool) > spec.participants else "Teacher"
    photos = (bank[int(order[i % len(order)])] for i in itertools.count())
    people: list[Participant] = []
    for pid in range(spec.participants):
        kind = TileKind.FACE
        if pid in off:
            kind = TileKind.AVATAR if pid in photo_off else TileKind.CAMERA_OFF
        elif pid in empty:
            kind = TileKind.EMPTY
        photo = next(photos) if kind is TileKind.FACE else None
        people.append(Participant(pid, kind, picked[pid], shown[pid], photo, photo.emotion if photo else None,
                                  int(seeds[pid]), bool(muted[pid])))
    # Profile photos and the teacher's own face come after the students' webcams, so the
    # webcams keep the photos they always had.
    people = [replace(p, photo=next(photos)) if p.kind is TileKind.AVATAR else p for p in people]
    people += [Participant(spec.participants + k, TileKind.SLIDE, seed=int(seeds[spec.participants + k]))
               for k in range(spec.slides)]
    sv_photo = next(photos)
    selfview = Participant(spec.tiles, TileKind.SELFVIEW, teacher, teacher, sv_photo, sv_photo.emotion,
                           int(seeds[spec.tiles]), False)
    if spec.fidelity is Fidelity.REAL:
        # Zoom shows a 4:3 camera with black bars; Meet and Teams crop it to fill the tile.
        people = [_with_traits(p, spec.style is Style.ZOOM) for p in people]
        selfview = _with_traits(selfview, False)
    live = [p.pid for p in people if p.kind is TileKind.FACE]
    speaker = int(r_new.choice(live)) if spec.active_speaker and live else None
    sharer = int(r_new.integers(spec.participants))
    return Cast(tuple(people), selfview, speaker, sharer, int(r_new.integers(0, 2**31))), r_content
