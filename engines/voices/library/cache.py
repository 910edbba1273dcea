"""``FolderVoiceCache``: what an engine derives from a saved voice, kept beside it in safetensors.

``<voice>/cache/<engine>-<model_key>.safetensors`` holds one engine's tensors for one
model (XTTS: the GPT conditioning latent and the speaker embedding). Another model has
another key, so its cache is simply absent and gets computed; saving it removes that
engine's files for other models. Files are read with safetensors only (never a pickle)
and written atomically.

A cache is an optimisation: every failure here (a corrupt file, a full disk, the voice
deleted while a request was using it) is logged and the engine computes the tensors
again; nothing is raised into the request.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ...storage import atomic_write

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("voice_studio.voices")

CACHE_DIR = "cache"
CACHE_SUFFIX = ".safetensors"
RECORD_FILE = "voice.json"
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class FolderVoiceCache:
    """The ``VoiceCache`` of one saved voice's folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"FolderVoiceCache({self.folder.name!r})"

    def path(self, engine: str, model_key: str) -> Path | None:
        """Where ``engine``'s tensors for ``model_key`` live; None for a key that cannot be a file name."""
        if not (_KEY_PATTERN.fullmatch(engine) and _KEY_PATTERN.fullmatch(model_key)) or ".." in model_key:
            return None
        return self.folder / CACHE_DIR / f"{engine}-{model_key}{CACHE_SUFFIX}"

    def load(self, engine: str, model_key: str) -> dict[str, "torch.Tensor"] | None:
        path = self.path(engine, model_key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (OSError, SafetensorError) as exc:  # rebuilt by the engine, and overwritten on save
            logger.warning("voice cache unreadable; computing again",
                           extra={"voice": self.folder.name, "cache": path.name, "error": str(exc)})
            return None

    def save(self, engine: str, model_key: str, tensors: dict[str, "torch.Tensor"]) -> None:
        path = self.path(engine, model_key)
        if path is None:
            logger.warning("voice cache not written: model key is not a file name",
                           extra={"voice": self.folder.name, "engine": engine, "model_key": model_key[:80]})
            return
        if not (self.folder / RECORD_FILE).is_file():  # removed while a request was using it: leave no debris
            logger.info("voice removed during a request; cache not written",
                        extra={"voice": self.folder.name, "engine": engine})
            return
        try:
            from safetensors.torch import save

            data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                        metadata={"engine": engine, "model_key": model_key})
            # No parents: a voice folder removed meanwhile must not be created again by its cache.
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, lambda handle: handle.write(data))
        except Exception as exc:  # a cache write never fails the request that computed the tensors
            logger.warning("voice cache not written", extra={"voice": self.folder.name, "engine": engine,
                                                             "error": f"{type(exc).__name__}: {exc}"})
            return
        self._drop_other_models(engine, path)
        logger.info("voice cache written", extra={"voice": self.folder.name, "cache": path.name})

    def _drop_other_models(self, engine: str, keep: Path) -> None:
        """The model changed: the files of the model before are of no use any more."""
        for stale in keep.parent.glob(f"{engine}-*{CACHE_SUFFIX}"):
            if stale != keep:
                try:
                    stale.unlink()
                except OSError as exc:
                    logger.warning("stale voice cache not removed",
                                   extra={"voice": self.folder.name, "cache": stale.name, "error": str(exc)})
