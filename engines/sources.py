"""Where weights come from: local paths, ``hf://owner/repo/path`` specs, the Hub cache.

Nothing here loads a model. A ``FileSource`` or ``DirSource`` knows where a file (or a
directory of files) lives, whether it is already on this machine, and how to get it:
``huggingface_hub`` downloads into its own resumable cache. When a file is missing and
cannot be downloaded (offline), ``WeightsMissingError`` says what and which variable to set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, WeightsMissingError

logger = logging.getLogger(__name__)

HF_SCHEME = "hf://"


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def parse_hf_spec(spec: str) -> tuple[str, str]:
    """``hf://owner/repo/path/in/repo`` -> (``owner/repo``, ``path/in/repo``)."""
    parts = spec[len(HF_SCHEME):].strip("/").split("/")
    if len(parts) < 2:
        raise InputError(f"{spec!r} is not of the form hf://owner/repo[/path]")
    return "/".join(parts[:2]), "/".join(parts[2:])


@dataclass(frozen=True)
class FileSource:
    """One weight file: a local path, or a file in a Hub repository."""

    description: str  # e.g. "F5-TTS checkpoint"
    env_var: str      # the variable that overrides it
    local_path: Path | None = None
    repo_id: str | None = None
    filename: str | None = None

    @classmethod
    def from_spec(cls, spec: str, description: str, env_var: str) -> "FileSource":
        if spec.startswith(HF_SCHEME):
            repo_id, filename = parse_hf_spec(spec)
            if not filename:
                raise InputError(f"{env_var}={spec!r} names a repository but no file in it")
            return cls(description, env_var, repo_id=repo_id, filename=filename)
        return cls(description, env_var, local_path=Path(spec).expanduser())

    @property
    def spec(self) -> str:
        return str(self.local_path) if self.local_path is not None else f"{HF_SCHEME}{self.repo_id}/{self.filename}"

    def cached_path(self) -> Path | None:
        """The file on this machine, without any network access, or None."""
        if self.local_path is not None:
            return self.local_path if self.local_path.is_file() else None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.repo_id, self.filename)
        return Path(found) if isinstance(found, str) else None

    def resolve(self) -> Path:
        """The file on disk, downloading it when needed and allowed."""
        found = self.cached_path()
        if found is not None:
            return found
        if self.local_path is not None:
            raise WeightsMissingError(
                f"{self.description} not found at {self.local_path}: set {self.env_var} to an existing file"
            )
        return _download(self.repo_id, self.filename, self.description, self.env_var)


@dataclass(frozen=True)
class DirSource:
    """A model directory: a local folder, or the same file names in a Hub repository."""

    description: str
    env_var: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    local_dir: Path | None = None
    repo_id: str | None = None
    subfolder: str = ""

    @classmethod
    def from_spec(cls, spec: str, description: str, env_var: str, required: tuple[str, ...],
                  optional: tuple[str, ...] = ()) -> "DirSource":
        if spec.startswith(HF_SCHEME):
            repo_id, subfolder = parse_hf_spec(spec)
            return cls(description, env_var, required, optional, repo_id=repo_id, subfolder=subfolder)
        return cls(description, env_var, required, optional, local_dir=Path(spec).expanduser())

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
        return [name for name in self.required if self._file(name).cached_path() is None]

    def resolve(self) -> Path:
        """The directory holding every required file (and the optional ones that exist)."""
        if self.local_dir is not None:
            missing = self.missing_locally()
            if missing:
                raise WeightsMissingError(
                    f"{self.description} directory {self.local_dir} lacks {', '.join(missing)}: "
                    f"set {self.env_var} to a directory with {', '.join(self.required)}"
                )
            return self.local_dir
        paths = [self._file(name).resolve() for name in self.required]
        for name in self.optional:
            try:
                self._file(name).resolve()
            except WeightsMissingError as exc:
                logger.info("optional model file unavailable", extra={"file": name, "reason": str(exc)})
        return paths[0].parent


def _download(repo_id: str, filename: str, description: str, env_var: str) -> Path:
    from huggingface_hub import hf_hub_download

    offline = hub_offline()
    try:
        path = hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=offline)
    except Exception as exc:  # any Hub/network failure means: not available here
        reason = "offline mode (HF_HUB_OFFLINE=1)" if offline else f"{type(exc).__name__}"
        logger.warning("weights download failed", extra={"repo_id": repo_id, "file": filename, "error": str(exc)})
        raise WeightsMissingError(
            f"{description} hf://{repo_id}/{filename} is not on this machine and could not be downloaded "
            f"({reason}): set {env_var} to a local copy"
        ) from exc
    logger.info("weights ready", extra={"repo_id": repo_id, "file": filename, "path": path})
    return Path(path)
