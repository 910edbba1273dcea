"""Helper models from ``transformers`` (speech recognition, speaker verification): where their
weights come from and how they load.

``PretrainedSource`` is a model directory as ``save_pretrained`` writes it: a local folder,
``hf://owner/repo[/subfolder]``, or a bare ``owner/repo`` Hub id. Files come through
``sources.FileSource``, so they use the Hub cache, work offline when cached, and a missing
file names the variable to set.

``LazyModel`` loads such a model once, on first use: files are read on the caller's thread,
then the model moves to the device on the device worker (``on_device``), where every call
to it runs. A failed load is remembered until ``load()`` is asked again, so a request does
not retry a download that just failed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EngineUnavailableError, InputError, WeightsMissingError
from ..settings import resolve_device
from ..weights.sources import HF_SCHEME, FileSource, hub_offline, parse_hf_spec, without_paths

logger = logging.getLogger(__name__)

_BARE_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# on_device(fn, label) -> fn's result, run on the device worker (EngineManager.on_device).
OnDevice = Callable[[Callable[[], Any], str], Any]


@dataclass(frozen=True)
class PretrainedSource:
    """A ``save_pretrained`` directory: the files it needs, and one of its weight files."""

    description: str
    env_var: str
    required: tuple[str, ...]
    weights: tuple[str, ...]          # any one of these (safetensors first)
    optional: tuple[str, ...] = ()
    local_dir: Path | None = None
    repo_id: str | None = None
    subfolder: str = ""

    @classmethod
    def from_spec(cls, spec: str, description: str, env_var: str, required: tuple[str, ...],
                  weights: tuple[str, ...], optional: tuple[str, ...] = ()) -> "PretrainedSource":
        spec = (spec or "").strip()
        common = dict(description=description, env_var=env_var, required=required, weights=weights,
                      optional=optional)
        if not spec:
            raise InputError(f"{env_var} is empty: set it to a model directory, hf://owner/repo or owner/repo")
        if spec.startswith(HF_SCHEME):
            repo_id, subfolder = parse_hf_spec(spec)
            return cls(**common, repo_id=repo_id, subfolder=subfolder)
        local = Path(spec).expanduser()
        if not local.exists() and _BARE_REPO_ID.match(spec):
            return cls(**common, repo_id=spec)
        return cls(**common, local_dir=local)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None, env_var: str, default: str, description: str,
                 required: tuple[str, ...], weights: tuple[str, ...],
                 optional: tuple[str, ...] = ()) -> tuple["PretrainedSource | None", str | None]:
        """(the model ``env_var`` names, default ``default``; None) or (None, why it is malformed): a
        bad variable does not stop the app, the model's health says why it is off."""
        env = os.environ if environ is None else environ
        try:
            return cls.from_spec(env.get(env_var) or default, description, env_var, required, weights, optional), None
        except InputError as exc:
            return None, str(exc)

    @property
    def spec(self) -> str:
        if self.local_dir is not None:
            return str(self.local_dir)
        return f"{HF_SCHEME}{self.repo_id}" + (f"/{self.subfolder}" if self.subfolder else "")

    def _file(self, name: str) -> FileSource:
        if self.local_dir is not None:
            return FileSource(self.description, self.env_var, local_path=self.local_dir / name)
        filename = f"{self.subfolder}/{name}" if self.subfolder else name
        return FileSource(self.description, self.env_var, repo_id=self.repo_id, filename=filename)

    def missing_locally(self) -> list[str]:
        """Files not on this machine (no network): required ones, and the weights if none is here."""
        missing = [name for name in self.required if self._file(name).cached_path() is None]
        if all(self._file(name).cached_path() is None for name in self.weights):
            missing.append(" or ".join(self.weights))
        return missing

    def resolve(self) -> Path:
        """The directory with every required file and a weight file, downloading what is missing."""
        if self.local_dir is not None:
            missing = self.missing_locally()
            if missing:
                raise WeightsMissingError(
                    f"{self.description} directory {self.local_dir} lacks {', '.join(missing)}: set {self.env_var} "
                    f"to a directory saved with save_pretrained ({', '.join(self.required)} and weights)")
            return self.local_dir
        paths = [self._file(name).resolve() for name in self.required]
        self._resolve_weights()
        for name in self.optional:
            try:
                self._file(name).resolve()
            except WeightsMissingError as exc:  # e.g. a repo without tokenizer.json: the other files do
                logger.info("optional model file unavailable", extra={"file": name, "reason": str(exc)})
        return paths[0].parent

    def _resolve_weights(self) -> Path:
        for name in self.weights:
            found = self._file(name).cached_path()
            if found is not None:
                return found
        first_error: WeightsMissingError | None = None
        for name in self.weights:
            try:
                return self._file(name).resolve()
            except WeightsMissingError as exc:  # this repository may ship the other format
                first_error = first_error or exc
        assert first_error is not None
        raise first_error


class LazyModel(ABC):
    """A helper model that loads on first use and runs on the device worker.

    Subclasses say how to read the files (``_stage``, caller's thread) and how to make the
    model ready on the device (``_activate``, on the worker; returns what calls need).
    """

    display_name: str = "model"

    def __init__(self, source: PretrainedSource | None, device_preference: str, on_device: OnDevice,
                 load_lock: threading.Lock | None = None, config_error: str | None = None):
        self.source = source
        self.device_preference = device_preference
        self.on_device = on_device
        self.config_error = config_error
        self.device: str | None = None
        self.load_s: float | None = None
        self._load_lock = threading.Lock()
        self.load_lock = load_lock  # the process-wide lock around first imports of transformers (the manager's)
        self._load_error: str | None = None
        self._ready: Any = None

    @property
    def env_var(self) -> str:
        return self.source.env_var if self.source is not None else ""

    @property
    def is_loaded(self) -> bool:
        return self._ready is not None

    @property
    def spec(self) -> str | None:
        return self.source.spec if self.source is not None else None

    def ensure_loaded(self) -> Any:
        """What calls need, loading once; raises ``EngineUnavailableError`` naming the variable to set."""
        ready = self._ready
        if ready is not None:
            return ready
        with self._load_lock:
            if self._ready is not None:
                return self._ready
            if self.config_error is not None:
                raise EngineUnavailableError(self.config_error)
            if self._load_error is not None:
                raise EngineUnavailableError(self._load_error)
            assert self.source is not None
            start = time.perf_counter()
            try:
                device = resolve_device(self.device_preference)
                with self.load_lock or nullcontext():
                    path = self.source.resolve()
                    staged = self._stage(path)
                self._ready = self.on_device(lambda: self._activate(staged, device), f"activate {self.display_name}")
            except Exception as exc:  # missing weights, a broken directory: unavailable, the app goes on
                self._load_error = self._describe_failure(exc)
                log = logger.info if isinstance(exc, EngineUnavailableError) else logger.exception  # the caller reports it
                log("helper model unavailable", extra={"model": self.display_name, "reason": self._load_error})
                raise EngineUnavailableError(self._load_error) from exc
            self.device = device
            self.load_s = round(time.perf_counter() - start, 3)
            logger.info("helper model loaded", extra={"model": self.display_name, "device": device,
                                                      "load_s": self.load_s, "source": self.source.spec})
            return self._ready

    def _describe_failure(self, exc: Exception) -> str:
        if isinstance(exc, EngineUnavailableError):
            detail = str(exc)
        else:
            detail = (f"{self.source.spec} could not be loaded ({type(exc).__name__}: {exc}); "
                      f"set {self.env_var} to a working model")
        return f"{self.display_name} is unavailable: {detail}"

    def load(self) -> dict[str, Any]:
        """Load now, retrying a remembered failure; returns the health (a failure shows in it)."""
        with self._load_lock:
            self._load_error = None
        try:
            self.ensure_loaded()
        except EngineUnavailableError:
            pass  # the reason is in the health returned below (and was logged)
        return self.health()

    def unload(self) -> None:
        def drop() -> None:
            self._ready = None
            from ..base import free_gpu_cache

            free_gpu_cache()

        with self._load_lock:
            self.on_device(drop, f"unload {self.display_name}")
            self._load_error = None

    def health(self) -> dict[str, Any]:
        """What this model is and whether it can be used; never loads or downloads anything."""
        error = self.config_error or self._load_error
        missing = [] if self.is_loaded or self.source is None else self.source.missing_locally()
        if self.is_loaded:
            status = "available"
        elif error is not None:
            status = "unavailable"
        elif missing and (hub_offline() or self.source.local_dir is not None):
            status = "unavailable"
            error = (f"{self.display_name} weights missing ({self.source.spec}: {', '.join(missing)}): "
                     f"set {self.env_var}")
        else:
            status = "not_loaded"  # on disk, or downloadable on first use
        # As the engines' health: a local folder by its name, in full only with VOICE_STUDIO_HEALTH_PATHS=1.
        shown = (lambda text: text) if _show_paths() else (lambda text: without_paths(text) if text else text)
        return {"name": self.display_name, "status": status, "model": shown(self.spec), "variable": self.env_var,
                "device": self.device or self._planned_device(), "weights_present": self.is_loaded or not missing,
                "load_s": self.load_s, "error": shown(error)}

    def _planned_device(self) -> str:
        try:
            return resolve_device(self.device_preference)
        except EngineUnavailableError:
            return f"{self.device_preference} (not available)"

    @abstractmethod
    def _stage(self, path: Path) -> Any:
        """Read the model from ``path`` on the CPU (caller's thread)."""

    @abstractmethod
    def _activate(self, staged: Any, device: str) -> Any:
        """On the device worker: move to ``device``; return what calls need."""


def _show_paths() -> bool:
    return os.environ.get("VOICE_STUDIO_HEALTH_PATHS", "").strip().lower() in ("1", "true", "yes", "on")


def half_precision_ok(device: str) -> bool:
    """Upstream F5-TTS's rule for its Whisper too: fp16 on CUDA with compute capability 7 or more."""
    import torch

    return device == "cuda" and torch.cuda.get_device_properties(0).major >= 7
