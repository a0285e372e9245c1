"""Settings of the identity step: how often labels are read, how long keys wait (one place)."""

from __future__ import annotations

from dataclasses import dataclass

from .names import match_key


@dataclass(frozen=True)
class IdentityOptions:
    reread_s: float = 30.0  # every label region is read again this often
    min_interval_s: float = 2.0  # a region whose pixels changed is read again at most this often
    change_threshold: float = 10.0  # mean abs grey difference of a thumbnail that counts as a change, 0..255
    check_every_s: float = 0.2  # pixels are compared this often (and when a new face appears), not every frame
    tiles_per_frame: int = 4  # label regions read per frame (VIDEO) or per background pass (LIVE_STREAM)
    keep_lost_s: float = 5.0  # a lost face's key waits this long for it to come back
    settle_s: float = 2.0  # a face whose label was looked for in vain waits this long for track-N
    unread_wait_s: float = 20.0  # ...and this long while its label was not read yet (the text pass is behind)
    read_names: bool = True  # False: anonymous, keys are track ids and no text is read
    opt_out: tuple[str, ...] = ()  # names as the teacher typed them

    def __post_init__(self) -> None:
        if self.tiles_per_frame < 1:
            raise ValueError(f"tiles_per_frame must be >= 1, got {self.tiles_per_frame}")
        for name in ("reread_s", "min_interval_s", "check_every_s", "keep_lost_s", "settle_s", "unread_wait_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def opt_out_keys(self) -> frozenset[str]:
        return frozenset(k for k in (match_key(x) for x in self.opt_out) if k)
