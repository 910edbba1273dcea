"""Load progress per engine: the step of the load it is at, and which file the Hub download is
fetching, MB done of MB total.

``sources.py`` downloads through ``huggingface_hub``, whose ``tqdm_class`` hook hands every
chunk written to a progress bar; ``bar_class`` makes a bar that reports into the engine's
``DownloadProgress`` instead of drawing. The manager shows ``snapshot()`` in the engine's
health (``details["download"]``) and passes the figures to a request's progress callback
while the request waits for the engine to load (``reporting``), with the load's step
(``begin_step``, written by ``Engine.load``) between downloads: "loading F5-TTS: step 2 of 4,
reading the checkpoint" instead of a bar standing at 0%.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MB = 2**20
# A listener hears at most this often (a progress bar needs no more; chunks come every few ms).
REPORT_EVERY_S = 0.25

ProgressCallback = Callable[[float, str], None]  # as engines.types.ProgressCallback


@dataclass
class _FileState:
    description: str
    done: int = 0
    total: int | None = None
    state: str = "downloading"  # downloading | done | failed


class DownloadProgress:
    """One engine's downloads in this process: safe to update from the downloading thread and
    to read from any other."""

    def __init__(self, engine: str):
        self.engine = engine
        self._lock = threading.Lock()
        self._files: dict[str, _FileState] = {}
        self._current: str | None = None
        self._error: str | None = None
        self._listeners: list[Callable[[], None]] = []
        self._last_report = 0.0
        self._step: tuple[int, int, str] | None = None  # (index from 1, steps, what) while a load runs

    # --- written by the download ------------------------------------------------------
    def begin_file(self, filename: str, description: str, total: int | None, initial: int = 0) -> None:
        with self._lock:
            self._files[filename] = _FileState(description, done=initial, total=total)
            self._current, self._error = filename, None
        self._notify(force=True)

    def set_total(self, filename: str, total: int | None) -> None:
        with self._lock:
            if filename in self._files and total is not None:
                self._files[filename].total = total

    def advance(self, filename: str, n: int) -> None:
        with self._lock:
            if filename in self._files:
                self._files[filename].done += n
        self._notify()

    def end_file(self, filename: str, error: str | None = None) -> None:
        with self._lock:
            state = self._files.get(filename)
            if state is not None:
                state.state = "failed" if error else "done"
                if not error and state.total is not None:
                    state.done = state.total
            if error:
                self._error = error
            if self._current == filename:
                self._current = None
        self._notify(force=True)

    # --- written by the load (Engine.load) --------------------------------------------------
    def begin_step(self, index: int, total: int, what: str) -> None:
        """The load is at step ``index`` of ``total`` (counted from 1), doing ``what``."""
        with self._lock:
            self._step = (index, total, what)
        self._notify(force=True)

    def end_steps(self) -> None:
        """The load is over (ready or failed)."""
        with self._lock:
            self._step = None

    def step(self) -> tuple[int, int, str] | None:
        with self._lock:
            return self._step

    def describe_step(self) -> str | None:
        """E.g. ``step 2 of 4, reading the checkpoint``; None when no load runs."""
        step = self.step()
        return f"step {step[0]} of {step[1]}, {step[2]}" if step is not None else None

    # --- read by health and by waiting requests ----------------------------------------
    def snapshot(self) -> dict[str, Any] | None:
        """What was downloaded for this engine in this process; None when nothing was."""
        with self._lock:
            if not self._files:
                return None
            files = dict(self._files)
            current = self._current
            error = self._error
        done = sum(f.done for f in files.values())
        total = sum(f.total or f.done for f in files.values())
        state = "downloading" if current is not None else ("failed" if error else "done")
        snapshot: dict[str, Any] = {
            "state": state, "file": current, "done_mb": round(done / MB, 1), "total_mb": round(total / MB, 1),
            "files_done": sum(f.state == "done" for f in files.values()), "files": len(files),
        }
        if current is not None:
            now = files[current]
            snapshot.update(what=now.description, file_done_mb=round(now.done / MB, 1),
                            file_total_mb=round(now.total / MB, 1) if now.total is not None else None)
        if error:
            snapshot["error"] = error
        return snapshot

    def describe(self) -> str | None:
        snapshot = self.snapshot()
        return describe_snapshot(snapshot) if snapshot is not None else None

    def fraction(self) -> float:
        """Bytes done over the bytes of the file now downloading (0 when its size is unknown)."""
        snapshot = self.snapshot()
        if not snapshot or snapshot["state"] != "downloading" or not snapshot.get("file_total_mb"):
            return 0.0
        return min(1.0, snapshot["file_done_mb"] / snapshot["file_total_mb"])

    @contextlib.contextmanager
    def reporting(self, callback: ProgressCallback | None, label: str) -> Iterator[None]:
        """While inside, ``callback(fraction, "LABEL: ...")`` hears of this engine's load: the file
        downloading and its MB, else the step of the load. Told at once when a load is under way."""
        if callback is None:
            yield
            return

        def listener() -> None:
            line = self.describe()
            if line is not None and self.snapshot()["state"] == "downloading":
                callback(self.fraction(), f"{label}: {line}")
                return
            step = self.step()
            if step is not None:
                callback((step[0] - 1) / step[1], f"{label}: {self.describe_step()}")

        with self._lock:
            self._listeners.append(listener)
            under_way = self._step is not None
        try:
            if under_way:  # this request waits for a load another one started: say so now
                self._call(listener)
            yield
        finally:
            with self._lock:
                self._listeners.remove(listener)

    def _notify(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._listeners or (not force and now - self._last_report < REPORT_EVERY_S):
                return
            self._last_report = now
            listeners = list(self._listeners)
        for listener in listeners:
            self._call(listener)

    def _call(self, listener: Callable[[], None]) -> None:
        try:
            listener()
        except Exception:  # a listener's failure (a closed page) must not break the download
            logger.warning("load progress listener failed", exc_info=True, extra={"engine": self.engine})


def describe_snapshot(snapshot: dict[str, Any]) -> str:
    """One line for a progress bar or a status card, e.g.
    ``downloading model.pth (XTTS-v2 model): 512.0 of 1870.0 MB``."""
    if snapshot["state"] != "downloading":
        line = f"downloaded {snapshot['files_done']} file(s), {snapshot['done_mb']} MB"
        return line + (f"; last error: {snapshot['error']}" if snapshot.get("error") else "")
    of = f" of {snapshot['file_total_mb']}" if snapshot.get("file_total_mb") is not None else ""
    return f"downloading {snapshot['file']} ({snapshot['what']}): {snapshot['file_done_mb']}{of} MB"


_REGISTRY: dict[str, DownloadProgress] = {}
_REGISTRY_LOCK = threading.Lock()


def download_progress(engine: str) -> DownloadProgress:
    """The process-wide progress of ``engine``'s downloads (created on first use)."""
    with _REGISTRY_LOCK:
        if engine not in _REGISTRY:
            _REGISTRY[engine] = DownloadProgress(engine)
        return _REGISTRY[engine]


class _ReportingBar:
    """The part of tqdm's interface that huggingface_hub's downloads (plain HTTP and Xet) call."""

    progress: DownloadProgress
    filename: str
    description: str

    def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any):
        self.n = initial
        self._total = total
        self.format_dict: dict[str, Any] = {}
        self.progress.begin_file(self.filename, self.description, total, initial)

    @property
    def total(self) -> int | None:
        return self._total

    @total.setter
    def total(self, value: int | None) -> None:
        self._total = value
        self.progress.set_total(self.filename, value)

    def update(self, n: int | float | None = 1) -> None:
        n = int(n or 0)
        self.n += n
        self.progress.advance(self.filename, n)

    def update_transfer(self, n: int) -> None:
        """Network bytes of a Xet download; the bytes written (``update``) are what is counted."""

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing is drawn."""

    def set_transfer_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing is drawn."""

    def refresh(self) -> None:
        """Nothing is drawn."""

    def close(self) -> None:
        """The download itself says when the file is done (``DownloadProgress.end_file``)."""

    def __enter__(self) -> "_ReportingBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def bar_class(progress: DownloadProgress, filename: str, description: str) -> type:
    """A tqdm stand-in class for ``hf_hub_download(tqdm_class=...)`` reporting into ``progress``.

    A class, not a partial: huggingface_hub looks for ``update_transfer`` on the class to give a
    Xet download a single bar (bytes written) instead of two.
    """
    return type("ReportingBar", (_ReportingBar,), {"progress": progress, "filename": filename,
                                                   "description": description})
