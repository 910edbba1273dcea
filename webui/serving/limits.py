"""Admission: one bound on synthesis for the whole process, shared by the UI and ``/v1``.

At most ``max_running`` syntheses run at once (one per engine, as the UI always allowed)
and at most ``max_waiting`` wait for a slot; a request beyond that is refused at once
with ``QueueFullError`` (the page shows it, ``/v1`` answers 429) instead of waiting
without end. The Dubbing and Cloning handlers and the ``/v1/audio/speech`` route take
their slot here, so API traffic never runs beside the UI's unbounded. Slots are handed
out first come, first served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from engines import VoiceStudioError

logger = logging.getLogger("voice_studio.limits")

# on_wait(position in the line, 1 = next; running now)
WaitCallback = Callable[[int, int], None]


class QueueFullError(VoiceStudioError):
    """Every synthesis slot is busy and the waiting line is full."""


class Ticket:
    """A held synthesis slot; ``release`` (or leaving the ``with`` block) hands it on. Idempotent."""

    def __init__(self, admission: "Admission"):
        self._admission = admission
        self._released = False
        self.admitted_at = time.monotonic()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._release()

    def __enter__(self) -> "Ticket":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Admission:
    def __init__(self, max_running: int, max_waiting: int):
        if max_running < 1 or max_waiting < 0:
            raise ValueError("max_running must be at least 1 and max_waiting at least 0")
        self.max_running = max_running
        self.max_waiting = max_waiting
        self._running = 0
        self._line: deque[object] = deque()
        self._changed = threading.Condition()

    def enter(self, on_wait: WaitCallback | None = None, timeout_s: float | None = None) -> Ticket:
        """Wait for a slot (first come, first served); raises ``QueueFullError`` when the line is full.

        ``on_wait`` is told the position in the line whenever it changes. ``timeout_s``
        bounds the wait (``QueueFullError`` then too).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            if self._running < self.max_running and not self._line:
                self._running += 1
                return Ticket(self)
            if len(self._line) >= self.max_waiting:
                logger.warning("queue full", extra={"running": self._running, "waiting": len(self._line)})
                raise QueueFullError(f"Queue is full: {self._running} syntheses are running and "
                                     f"{len(self._line)} are waiting; try again in a moment")
            me = object()
            self._line.append(me)
            try:
                told = None
                while not (self._line[0] is me and self._running < self.max_running):
                    position = self._line.index(me) + 1
                    if on_wait is not None and position != told:
                        told = position
                        on_wait(position, self._running)
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise QueueFullError(f"no synthesis slot became free within {timeout_s:.0f} s; "
                                             "try again in a moment")
                    self._changed.wait(remaining)
                self._running += 1
                return Ticket(self)
            finally:
                self._line.remove(me)
                self._changed.notify_all()

    def _release(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def status(self) -> dict[str, int]:
        with self._changed:
            return {"running": self._running, "waiting": len(self._line), "max_running": self.max_running,
                    "max_waiting": self.max_waiting}
