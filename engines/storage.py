"""Files on disk: the output folder, and writing files so that no reader ever sees half of one
(temp file, fsync, rename, fsync the folder)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

TMP_SUFFIX = ".tmp"
ENV_OUTPUT_DIR = "VOICE_STUDIO_OUTPUT_DIR"
DEFAULT_OUTPUT_DIR = "outputs"


def output_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where results (the History) and dubbing projects are kept: ``VOICE_STUDIO_OUTPUT_DIR``,
    default ``./outputs``, with ``~`` expanded."""
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_OUTPUT_DIR) or DEFAULT_OUTPUT_DIR).expanduser()


def atomic_write(target: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> int:
    """Write ``target`` through a hidden temp file in its folder; return its size in bytes.

    The folder is created when missing. On any failure the temp file is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        size = os.path.getsize(tmp_name)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(target.parent)
    return size


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> int:
    return atomic_write(target, lambda handle: handle.write(data))


def fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); where folders cannot be opened (Windows) this is skipped."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
