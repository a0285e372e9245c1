"""Background writer: the analysis loop hands a second over in microseconds; a thread commits it.

A second counts as recorded ("acknowledged") only once the thread has committed it
(:attr:`AsyncWriter.acknowledged_t`, ``on_ack``, :meth:`flush`); until then it lives in
memory. If the disk stalls for longer than the queue holds, new seconds are dropped (and
counted) rather than stalling the live overlay.

Trouble is ridden out where it can pass: a database locked by another program (a DB
browser left open, a second fer-overlay) is retried with backoff for ``give_up_after_s``
while the seconds wait in the queue, so a lock of a few seconds loses nothing. Only a
lasting failure stops recording: a lock longer than that, a full disk, a damaged file, the
session deleted. Then :attr:`AsyncWriter.error` holds the reason (logged once, no
traceback), and :meth:`put` / :meth:`bookmark` return False instead of raising, so the live
loop keeps running and can say so once.

The thread also stamps the session's heartbeat (with every commit, and every
``HEARTBEAT_S`` when idle): that is how `forget` in another process knows this session is
being recorded, and how a crashed recorder's session reads as interrupted soon after.

When recording stops for good (or the process dies), ``ended_at`` is written by whoever
ends the session (the controller's ``end_session`` after :meth:`close`) if the disk allows.
If it cannot be (a full disk), nothing has to finish it later: with no heartbeat for
``RECORDER_STALE_S`` the session reads as :attr:`SessionState.INTERRUPTED` everywhere
(`sessions`, reports, `forget`), never as recording forever.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from ..errors import StoreError
from .db import StoreBusyError
from .records import RECORDER_STALE_S, ClassSecond, StudentSecond
from .session_store import SessionStore

log = logging.getLogger(__name__)

_BATCH = 120  # seconds per transaction at most when catching up
HEARTBEAT_S = 5.0  # idle heartbeat period; several fit in RECORDER_STALE_S, so one slow stamp is not a crash
GIVE_UP_AFTER_S = 60.0  # a lock held longer than this stops recording (the "lasting" lock)
_RETRY_FIRST_S, _RETRY_MAX_S = 0.05, 1.0  # backoff between attempts, on top of the busy timeout
assert HEARTBEAT_S * 3 <= RECORDER_STALE_S


@dataclass(frozen=True)
class _Second:
    class_second: ClassSecond
    students: tuple[StudentSecond, ...]


@dataclass(frozen=True)
class _Mark:
    t: int
    label: str


_STOP = object()


class AsyncWriter:
    """Owns its own connection to ``path`` and appends to ``session_id`` from a daemon thread."""

    def __init__(
        self, path: str | Path, session_id: int, *, max_queue: int = 300, busy_timeout: float = 5.0,
        on_ack: Callable[[int], None] | None = None, max_size_bytes: int | None = None,
        give_up_after_s: float = GIVE_UP_AFTER_S, on_error: Callable[[StoreError], None] | None = None,
    ) -> None:
        """``on_error`` is called once, from the writer thread, when recording stops for good; the
        caller then tells the teacher (and logs) itself. Without it the writer logs the error once."""
        # Opened here so a bad path fails in the caller, not silently in the thread.
        self._store = SessionStore.open(path, busy_timeout=busy_timeout, max_size_bytes=max_size_bytes)
        self._session_id = self._store.resolve(session_id)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._on_ack = on_ack
        self._on_error = on_error
        self._give_up_s = float(give_up_after_s)
        self._cond = threading.Condition()
        self._submitted = 0  # items accepted into the queue
        self._done = 0  # items committed or discarded
        self._acked_t: int | None = None
        self._dropped = 0
        self._renames: tuple[tuple[str, str | None], ...] = ()  # of seconds dropped: they go with the next one
        self._error: StoreError | None = None  # set once, by the writer thread only
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"fer-overlay-store-{self._session_id}", daemon=True)
        self._thread.start()

    # -- caller side ------------------------------------------------------------------------

    def put(self, class_second: ClassSecond, students: Sequence[StudentSecond]) -> bool:
        """Queue one second; False if it will not be recorded: the disk is too far behind
        (counted in :attr:`dropped`) or recording has stopped (see :attr:`error`). Never
        raises for either, so the live loop goes on."""
        if self._renames:
            class_second = replace(class_second, renamed=self._renames + class_second.renamed)
        ok = self._offer(_Second(class_second, tuple(students)))
        # A dropped second's rows are lost, its renames must not be: the stored rows of a student
        # whose name was read better would stay under the old key, one person twice in the record.
        self._renames = () if ok else class_second.renamed
        return ok

    def bookmark(self, t: int, label: str) -> bool:
        """Queue a bookmark; False as for :meth:`put`."""
        return self._offer(_Mark(t, label))

    def _offer(self, item: object) -> bool:
        if self._error is not None:
            return False
        if self._closed:
            raise RuntimeError("AsyncWriter is closed")  # a caller bug, not a recording failure
        with self._cond:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 60 == 0:
                    log.warning("session database %s is too slow: %d seconds not recorded so far",
                                self._store.path, self._dropped)
                return False
            self._submitted += 1
        return True

    @property
    def acknowledged_t(self) -> int | None:
        """The last second known to be on disk."""
        return self._acked_t

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def error(self) -> StoreError | None:
        """Why recording stopped (a lasting failure), or None while it goes on."""
        return self._error

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is on disk; raises the writer's error if any
        (what was queued is then not all on disk)."""
        with self._cond:
            target = self._submitted
            if not self._cond.wait_for(lambda: self._done >= target, timeout=timeout):
                raise TimeoutError(f"session database {self._store.path}: flush did not finish in {timeout} s")
        if self._error is not None:
            raise self._error

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued (riding out a lock as above), stop the thread, close the connection.

        A recording failure is not raised again here: it was logged once and is in
        :attr:`error`. Raises TimeoutError if the thread did not finish in ``timeout``.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)  # may wait for room: the session is over, blocking is fine now
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"session database {self._store.path}: writer did not finish in {timeout} s")

    def __enter__(self) -> AsyncWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            # Marked as recording at once, so `forget` elsewhere refuses it from the start.
            self._attempt(lambda: self._store.heartbeat(self._session_id))
            stop = False
            while not stop:
                try:
                    batch = [self._queue.get(timeout=HEARTBEAT_S)]
                except queue.Empty:  # idle (no seconds coming): still alive, say so
                    if self._error is None:
                        self._attempt(lambda: self._store.heartbeat(self._session_id))
                    continue
                while len(batch) < _BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is _STOP for item in batch)
                items = [item for item in batch if item is not _STOP]
                if self._error is None:
                    self._write(items)
                with self._cond:  # after a failure items are discarded, so flush() never hangs
                    self._done += len(items)
                    self._cond.notify_all()
        finally:
            self._store.close()

    def _write(self, items: list[object]) -> None:
        seconds: list[tuple[ClassSecond, Sequence[StudentSecond]]] = []
        for item in items:
            if isinstance(item, _Second):
                seconds.append((item.class_second, item.students))
            elif isinstance(item, _Mark):
                if not self._commit(seconds):
                    return
                seconds = []
                if not self._attempt(functools.partial(self._store.bookmark, self._session_id, item.t, item.label)):
                    return
        self._commit(seconds)

    def _commit(self, seconds: list[tuple[ClassSecond, Sequence[StudentSecond]]]) -> bool:
        """Commit ``seconds`` in one transaction; False once recording has stopped."""
        if not seconds:
            return True
        try:
            if not self._attempt(lambda: self._store.append_many(self._session_id, seconds, live=True)):
                return False
        except ValueError:
            # A bad second (e.g. one recorded twice) is a caller bug; it must not take the
            # good seconds of its batch with it, nor stop the recording.
            return all(self._commit_one(second) for second in seconds)
        self._acknowledge(seconds[-1][0].t)
        return True

    def _commit_one(self, second: tuple[ClassSecond, Sequence[StudentSecond]]) -> bool:
        try:
            if not self._attempt(lambda: self._store.append_many(self._session_id, [second], live=True)):
                return False
        except ValueError as exc:
            log.warning("session %d: second %d not recorded: %s", self._session_id, second[0].t, exc)
            return True
        self._acknowledge(second[0].t)
        return True

    def _acknowledge(self, t: int) -> None:
        self._acked_t = t
        if self._on_ack is not None:
            try:
                self._on_ack(t)
            except Exception as exc:  # the caller's callback must not stop the recording
                log.warning("session writer: on_ack(%d) failed: %s", t, exc)

    def _attempt(self, op: Callable[[], object]) -> bool:
        """Run ``op``, retrying while the database is locked; False (and :attr:`error` set) on a
        lasting failure. ValueError (a bad record) is left to the caller."""
        locked_since: float | None = None
        delay = _RETRY_FIRST_S
        while True:
            try:
                op()
            except StoreBusyError:
                now = time.monotonic()
                if locked_since is None:
                    locked_since = now
                    log.warning("session database %s is locked by another program; keeping the seconds in memory "
                                "and retrying for up to %g s", self._store.path, self._give_up_s)
                elif now - locked_since >= self._give_up_s:
                    self._fail(self._locked_error(now - locked_since))
                    return False
                time.sleep(max(0.0, min(delay, locked_since + self._give_up_s - now)))
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            except StoreError as exc:
                self._fail(exc)
                return False
            except ValueError:
                raise
            except Exception as exc:  # an unexpected bug: stop loudly, once, without a traceback on stderr
                log.debug("session writer failed", exc_info=True)
                self._fail(StoreError(f"Recording to {self._store.path} stopped: {exc}"))
                return False
            if locked_since is not None:
                log.warning("session database %s is writable again after %.1f s; nothing was lost",
                            self._store.path, time.monotonic() - locked_since)
            return True

    def _locked_error(self, seconds: float) -> StoreError:
        kept = "nothing was recorded yet" if self._acked_t is None else \
            f"everything recorded up to second {self._acked_t} is kept"
        return StoreError(
            f"Recording stopped: the session database {self._store.path} has been locked by another program for "
            f"{seconds:.0f} s (a database browser left open, or another fer-overlay?); {kept}. "
            f"Close the other program, then start a new session.")

    def _fail(self, exc: StoreError) -> None:
        if self._error is not None:
            return
        self._error = exc
        if self._on_error is None:
            log.error("%s", exc)
            return
        try:
            self._on_error(exc)
        except Exception as cb_exc:  # still said once, even if the caller's callback broke
            log.error("%s (on_error failed: %s)", exc, cb_exc)
