"""Long Studio work (a render, a video dub) in a background thread the handler watches.

``Runs`` holds one run per project, so Cancel, from any request, reaches the right one,
and a second render of a project in progress is refused instead of queued behind it.
``watch`` starts the work, hands its events back to the handler in batches as they come
(the handler turns each batch into a page update: the table line by line, the progress
bar), and returns the work's result or raises its error once it is over.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engines import InputError

POLL_S = 0.25          # how long the watcher waits for an event before looking again
BATCH_S = 0.2          # events that come within this time reach the page as one update

Emit = Callable[[Any], None]


@dataclass
class Run:
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class Runs:
    """Work in progress, by project id."""

    def __init__(self):
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def check_idle(self, project_id: str) -> None:
        with self._lock:
            run = self._runs.get(project_id)
        if run is not None and run.alive:
            raise InputError("this project is already rendering: wait for it or press Cancel")

    def start(self, project_id: str) -> Run:
        with self._lock:
            run = self._runs.get(project_id)
            if run is not None and run.alive:
                raise InputError("this project is already rendering: wait for it or press Cancel")
            run = self._runs[project_id] = Run()
            return run

    def cancel(self, project_id: str | None) -> bool:
        """Ask the project's run to stop after the lines in flight; False when nothing runs."""
        with self._lock:
            run = self._runs.get(project_id or "")
        if run is None or not run.alive:
            return False
        run.cancel.set()
        return True


def watch(runs: Runs, project_id: str, work: Callable[[Emit, threading.Event], Any]) -> Iterator[list[Any]]:
    """Run ``work(emit, cancel)`` in a thread; yield the events it emits, in batches; return its result.

    The work's exception is raised here, in the handler's thread, once the thread is over.
    """
    run = runs.start(project_id)
    events: queue.Queue[Any] = queue.Queue()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work(events.put, run.cancel)
        except BaseException as exc:  # handed to the watching handler, which shows it on the page
            outcome["error"] = exc

    run.thread = threading.Thread(target=target, name=f"studio-{project_id}", daemon=True)
    run.thread.start()
    while run.thread.is_alive() or not events.empty():
        try:
            batch = [events.get(timeout=POLL_S)]
        except queue.Empty:
            continue
        until = time.monotonic() + BATCH_S
        while (left := until - time.monotonic()) > 0:
            try:
                batch.append(events.get(timeout=left))
            except queue.Empty:
                break
        yield batch
    run.thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
