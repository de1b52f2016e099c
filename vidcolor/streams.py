"""Threads that overlap the stages of a stream, written once: :class:`Prefetch` runs a
producer (decoding) ahead of its consumer, :class:`Drain` runs a consumer (encoding)
behind its producer. Both are bounded (constant memory) and can never hang:

- an exception in the thread is re-raised in the caller at its next call;
- every queue operation waits in short slices and gives up as soon as the other side
  has failed or has been stopped (:meth:`close` / :meth:`abort`);
- stopping joins the thread with a time bound (daemon threads: a stuck library call
  cannot keep the process alive).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
POLL = 0.1          # seconds: how often a waiting side looks at the other's state
JOIN_TIMEOUT = 30.0  # seconds given to a thread to finish its current item when stopped
_END = object()


class Prefetch(Generic[T]):
    """Iterate ``iterable`` in a thread, up to ``depth`` items ahead of the consumer.

    ``for item in Prefetch(it):`` yields the items in order; an exception raised by the
    iterable is re-raised there. :meth:`close` (also on leaving a ``with`` block) stops
    the thread; call it when the consumer stops early.
    """

    def __init__(self, iterable: Iterable[T], depth: int = 4, name: str = "vidcolor-prefetch"):
        self._it = iterable
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _offer(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for item in self._it:
                if not self._offer(item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._error = e
        self._offer(_END)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        while not self._done:
            try:
                item = self._q.get(timeout=POLL)
            except queue.Empty:
                if not self._thread.is_alive() and self._q.empty():
                    self._done = True      # stopped by close(): nothing more comes
                continue
            if item is _END:
                self._done = True
                break
            return item
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        raise StopIteration

    def close(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Stop the thread (it ends after the item it is producing) and wait for it."""
        self._stop.set()
        self._done = True
        self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Drain(Generic[T]):
    """Call ``fn(item)`` in a thread for every item :meth:`put`, at most ``depth`` waiting.

    :meth:`put` re-raises the thread's exception (the consumer died: stop producing);
    :meth:`close` waits until every item is consumed and re-raises it too; :meth:`abort`
    stops the thread after its current item, dropping the rest.
    """

    def __init__(self, fn: Callable[[T], None], depth: int = 4, name: str = "vidcolor-drain"):
        self._fn = fn
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item = self._q.get(timeout=POLL)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                self._fn(item)
        except BaseException as e:  # noqa: BLE001 - handed to the producer
            self._error = e

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            self._stop.set()
            raise err

    def put(self, item: T) -> None:
        while True:
            self._raise()
            if not self._thread.is_alive():
                raise RuntimeError(f"{self._thread.name} stopped")
            try:
                self._q.put(item, timeout=POLL)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait for every item put so far to be consumed; re-raise the thread's exception."""
        self.put(_END)                     # type: ignore[arg-type]
        while self._thread.is_alive():
            self._thread.join(POLL)
        self._raise()

    def abort(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Stop after the current item (the rest is dropped) and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout)
