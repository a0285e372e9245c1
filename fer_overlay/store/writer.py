"""Background writer: the analysis loop hands a second over in microseconds; a thread commits it.

A second counts as recorded ("acknowledged") only once the thread has committed it
(:attr:`AsyncWriter.acknowledged_t`, ``on_ack``, :meth:`flush`); until then it lives in
memory. If the disk stalls for longer than the queue holds, new seconds are dropped (and
counted) rather than stalling the live overlay.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import StoreError
from .records import ClassSecond, StudentSecond
from .session_store import SessionStore

log = logging.getLogger(__name__)

_BATCH = 120  # seconds per transaction at most when catching up


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
    ) -> None:
        # Opened here so a bad path fails in the caller, not silently in the thread.
        self._store = SessionStore.open(path, busy_timeout=busy_timeout, max_size_bytes=max_size_bytes)
        self._session_id = self._store.resolve(session_id)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._on_ack = on_ack
        self._cond = threading.Condition()
        self._submitted = 0  # items accepted into the queue
        self._done = 0  # items committed or discarded
        self._acked_t: int | None = None
        self._dropped = 0
        self._error: StoreError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"fer-overlay-store-{self._session_id}", daemon=True)
        self._thread.start()

    # -- caller side ------------------------------------------------------------------------

    def put(self, class_second: ClassSecond, students: Sequence[StudentSecond]) -> bool:
        """Queue one second; False if it was dropped because the disk is too far behind.

        Raises the writer's StoreError once recording has failed (e.g. disk full), so the
        caller can tell the teacher and stop recording.
        """
        return self._offer(_Second(class_second, tuple(students)))

    def bookmark(self, t: int, label: str) -> bool:
        return self._offer(_Mark(t, label))

    def _offer(self, item: object) -> bool:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("AsyncWriter is closed")
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
        return self._error

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is on disk; raises the writer's error if any."""
        with self._cond:
            target = self._submitted
            if not self._cond.wait_for(lambda: self._done >= target, timeout=timeout):
                raise TimeoutError(f"session database {self._store.path}: flush did not finish in {timeout} s")
        if self._error is not None:
            raise self._error

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the thread and close the connection; raises the writer's error if any."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)  # may wait for room: the session is over, blocking is fine now
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"session database {self._store.path}: writer did not finish in {timeout} s")
        if self._error is not None:
            raise self._error

    def __enter__(self) -> AsyncWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
            return
        try:  # an exception is already on its way: keep what we can, do not mask it
            self.close()
        except StoreError as exc:
            log.error("%s", exc)

    # -- writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                batch = [self._queue.get()]
                while len(batch) < _BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is _STOP for item in batch)
                items = [item for item in batch if item is not _STOP]
                if self._error is None:
                    self._write(items)
                with self._cond:
                    self._done += len(items)
                    self._cond.notify_all()
        finally:
            self._store.close()

    def _write(self, items: list[object]) -> None:
        seconds: list[tuple[ClassSecond, Sequence[StudentSecond]]] = []
        try:
            for item in items:
                if isinstance(item, _Second):
                    seconds.append((item.class_second, item.students))
                elif isinstance(item, _Mark):
                    self._commit(seconds)
                    seconds = []
                    self._store.bookmark(self._session_id, item.t, item.label)
            self._commit(seconds)
        except StoreError as exc:
            log.error("%s", exc)
            self._error = exc
        except Exception as exc:  # a bad record must not kill recording silently
            log.exception("session writer failed")
            self._error = StoreError(f"Recording to {self._store.path} stopped: {exc}")

    def _commit(self, seconds: list[tuple[ClassSecond, Sequence[StudentSecond]]]) -> None:
        if not seconds:
            return
        self._store.append_many(self._session_id, seconds)
        self._acked_t = seconds[-1][0].t
        if self._on_ack is not None:
            self._on_ack(self._acked_t)
