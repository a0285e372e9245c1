"""Files the user asked us to write (`report`, `export`, `analyze --out/--json`), written safely.

Two rules, checked *before* any work is done so a bad path never costs a 40-second analysis:

- Only an absent path or a regular file is replaced. A symbolic link is replaced only with
  ``force`` (the link itself, never its target); a folder, device node, FIFO or socket never
  (``report --out /dev/full`` as root once turned the device into a regular file).
- The new file gets the mode the user's umask gives (``mkstemp`` alone gives 0600), and
  replaces the old one atomically, so a reader never sees half a file.

Every failure is an :class:`OutputError` with a one-line message naming the path.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import FerOverlayError

# Below this a disk counts as full before the work starts; a write that fails later (a bigger
# file than was free) is still one line, but then the work is done.
MIN_FREE_BYTES = 64 * 1024


class OutputError(FerOverlayError):
    """An output file cannot be written where the user asked."""


def _umask() -> int:
    # os.umask can only be read by setting it; restored at once (CLI, single-threaded here).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(path: str | Path, *, force: bool = False, suffixes: Iterable[str] | None = None) -> Path:
    """Validate an output path before the work: known suffix, a folder we can write on a disk
    that is not full, nothing but a regular file in the way. Returns the expanded path;
    raises :class:`OutputError`."""
    out = Path(path).expanduser()
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if out.suffix.lower() not in allowed:
            raise OutputError(f"{out}: unknown file type {out.suffix or '(none)'!r}; use one of {', '.join(allowed)}")
    _check_in_the_way(out, force)
    folder = out.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {out}: folder {folder} is not writable")
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"cannot write {out}: the disk is full ({free // 1024} KiB free); free some space")
    return out


def _check_in_the_way(out: Path, force: bool) -> Path:
    try:
        st = out.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            if not force:
                raise OutputError(f"{out} is a symbolic link; not replaced (pass --force to replace the link itself)")
        elif not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise OutputError(f"{out} is {kind}; choose a file path")
    return out


def write_output(path: str | Path, data: str | bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` under the rules above (checked again: time passed since
    :func:`check_output`). Text is UTF-8."""
    out = _check_in_the_way(Path(path).expanduser(), force)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return out
