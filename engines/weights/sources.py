"""Where weights come from: local paths, ``hf://owner/repo/path`` specs, the Hub cache.

Nothing here loads a model. A ``FileSource`` or ``DirSource`` knows where a file (or a
directory of files) lives, whether it is already on this machine, and how to get it:
``huggingface_hub`` downloads into its own resumable cache, reporting its progress to the
engine's ``DownloadProgress`` (``downloads.py``). When a file is missing and cannot be
downloaded (offline, or the Hub does not answer), ``WeightsMissingError`` names every
variable the engine needs set.

What users see never holds a server path: ``spec`` is ``hf://owner/repo/file`` or a local
file's name (the full path only where the operator set ``VOICE_STUDIO_HEALTH_PATHS=1``),
and error messages name the file and the variable, never the folder.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .downloads import bar_class, download_progress
from ..errors import InputError, WeightsMissingError

logger = logging.getLogger(__name__)

HF_SCHEME = "hf://"
# One short request tells whether the Hub answers at all; its answer is kept this long.
HUB_PROBE_TIMEOUT_S = 3.0
HUB_PROBE_TTL_S = 60.0

# How an engine's weights that are not here get here: what its "missing" messages end with.
DOWNLOAD_HINT = "run `python -m engines download` while the Hugging Face Hub answers"
FETCHED_BY_DOWNLOAD = ("f5tts", "xtts")  # whose sources `python -m engines download` fetches

# An absolute POSIX path inside a message: a slash, then at least one folder, then the last part.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s'\"`()\[\]{},;:/]+)+/([^\s'\"`()\[\]{},;:/]+)")


def without_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part (``/tmp/x/model.pth`` -> ``model.pth``)."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)


class _HubProbe:
    """Whether the Hub endpoint answers: one request with a short timeout, remembered a while."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answer: tuple[str, float, bool] | None = None  # (endpoint, when, reachable)

    def reachable(self) -> bool:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
        with self._lock:  # callers arriving meanwhile wait for this one probe
            if self._answer is not None:
                seen_endpoint, when, answer = self._answer
                if seen_endpoint == endpoint and time.monotonic() - when < HUB_PROBE_TTL_S:
                    return answer
            answer = self._probe(endpoint)
            self._answer = (endpoint, time.monotonic(), answer)
            return answer

    def forget(self) -> None:
        with self._lock:
            self._answer = None

    @staticmethod
    def _probe(endpoint: str) -> bool:
        import httpx
        from huggingface_hub.utils import get_session

        start = time.monotonic()
        try:
            # Any HTTP answer, even an error status, means the Hub can be asked for files.
            get_session().head(endpoint, timeout=HUB_PROBE_TIMEOUT_S, follow_redirects=False)
        except httpx.HTTPError as exc:
            logger.warning("Hugging Face Hub unreachable; downloads are off until it answers", extra={
                "endpoint": endpoint, "error": f"{type(exc).__name__}: {exc}",
                "probe_s": round(time.monotonic() - start, 2), "retry_after_s": HUB_PROBE_TTL_S})
            return False
        return True


_HUB_PROBE = _HubProbe()


def hub_offline() -> bool:
    """True when weights cannot come from the Hub now: ``HF_HUB_OFFLINE=1``, or the Hub did not
    answer one short probe (asked again after ``HUB_PROBE_TTL_S``)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or not _HUB_PROBE.reachable()


def offline_reason() -> str:
    from huggingface_hub import constants

    return "offline mode (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else "the Hugging Face Hub does not answer"


def parse_hf_spec(spec: str) -> tuple[str, str]:
    """``hf://owner/repo/path/in/repo`` -> (``owner/repo``, ``path/in/repo``)."""
    parts = spec[len(HF_SCHEME):].strip("/").split("/")
    if len(parts) < 2:
        raise InputError(f"{spec!r} is not of the form hf://owner/repo[/path]")
    return "/".join(parts[:2]), "/".join(parts[2:])


@dataclass(frozen=True)
class FileSource:
    """One weight file: a local path, or a file in a Hub repository.

    ``engine`` names whose download progress it reports to; ``companions`` are the other
    sources the same engine needs (an error names their variables too when they are missing).
    """

    description: str  # e.g. "F5-TTS checkpoint"
    env_var: str      # the variable that overrides it
    local_path: Path | None = None
    repo_id: str | None = None
    filename: str | None = None
    engine: str = ""
    show_path: bool = field(default=False, compare=False)
    companions: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def from_spec(cls, spec: str, description: str, env_var: str, engine: str = "",
                  show_path: bool = False) -> "FileSource":
        if spec.startswith(HF_SCHEME):
            repo_id, filename = parse_hf_spec(spec)
            if not filename:
                raise InputError(f"{env_var}={spec!r} names a repository but no file in it")
            return cls(description, env_var, repo_id=repo_id, filename=filename, engine=engine, show_path=show_path)
        return cls(description, env_var, local_path=Path(spec).expanduser(), engine=engine, show_path=show_path)

    @property
    def name(self) -> str:
        """How errors name it: ``hf://owner/repo/file``, or the local file's name."""
        return self.local_path.name if self.local_path is not None else f"{HF_SCHEME}{self.repo_id}/{self.filename}"

    @property
    def spec(self) -> str:
        """How health shows it: ``name``, or the full local path with ``VOICE_STUDIO_HEALTH_PATHS=1``."""
        return str(self.local_path) if self.local_path is not None and self.show_path else self.name

    def show(self, path: Path | str | None) -> str | None:
        """A path this source led to (a cache copy, a download), as health may show it."""
        if path is None:
            return None
        return str(path) if self.show_path else Path(path).name

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
                f"{self.description} {self.name!r} ({self.env_var}) does not exist: set {self.env_var} to an "
                "existing file"
            )
        return _download(self)


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
    engine: str = ""
    show_path: bool = field(default=False, compare=False)
    companions: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def from_spec(cls, spec: str, description: str, env_var: str, required: tuple[str, ...],
                  optional: tuple[str, ...] = (), engine: str = "", show_path: bool = False) -> "DirSource":
        if spec.startswith(HF_SCHEME):
            repo_id, subfolder = parse_hf_spec(spec)
            return cls(description, env_var, required, optional, repo_id=repo_id, subfolder=subfolder,
                       engine=engine, show_path=show_path)
        return cls(description, env_var, required, optional, local_dir=Path(spec).expanduser(), engine=engine,
                   show_path=show_path)

    @property
    def name(self) -> str:
        if self.local_dir is not None:
            return self.local_dir.name
        return f"{HF_SCHEME}{self.repo_id}" + (f"/{self.subfolder}" if self.subfolder else "")

    @property
    def spec(self) -> str:
        return str(self.local_dir) if self.local_dir is not None and self.show_path else self.name

    def show(self, path: Path | str | None) -> str | None:
        if path is None:
            return None
        return str(path) if self.show_path else Path(path).name

    def file(self, name: str) -> FileSource:
        """One file of the directory, as a source of its own."""
        if self.local_dir is not None:
            return FileSource(self.description, self.env_var, local_path=self.local_dir / name, engine=self.engine,
                              show_path=self.show_path, companions=self.companions)
        filename = f"{self.subfolder}/{name}" if self.subfolder else name
        return FileSource(self.description, self.env_var, repo_id=self.repo_id, filename=filename,
                          engine=self.engine, show_path=self.show_path, companions=self.companions)

    def missing_locally(self) -> list[str]:
        return [name for name in self.required if self.file(name).cached_path() is None]

    def cached_path(self) -> Path | None:
        """The directory when every required file is on this machine (no network), else None."""
        if self.missing_locally():
            return None
        return self.local_dir if self.local_dir is not None else self.file(self.required[0]).cached_path().parent

    def resolve(self) -> Path:
        """The directory holding every required file (and the optional ones that exist)."""
        if self.local_dir is not None:
            missing = self.missing_locally()
            if missing:
                raise WeightsMissingError(
                    f"{self.description} directory {self.name!r} ({self.env_var}) lacks {', '.join(missing)}: "
                    f"set {self.env_var} to a directory with {', '.join(self.required)}"
                )
            return self.local_dir
        paths = [self.file(name).resolve() for name in self.required]
        for name in self.optional:
            try:
                self.file(name).resolve()
            except WeightsMissingError as exc:
                logger.info("optional model file unavailable", extra={"file": name, "reason": str(exc)})
        return paths[0].parent


Source = FileSource | DirSource


def linked(*sources: Source) -> tuple[Source, ...]:
    """The same sources, each knowing the others that one engine needs with it."""
    return tuple(replace(source, companions=tuple(other for other in sources if other is not source))
                 for source in sources)


def missing_variables(source: Source) -> list[str]:
    """``source``'s variable, then those of its companions not on this machine (no network)."""
    names = [source.env_var]
    for other in source.companions:
        if other.cached_path() is None and other.env_var not in names:
            names.append(other.env_var)
    return names


def _download(source: FileSource) -> Path:
    from huggingface_hub import hf_hub_download

    offline = hub_offline()
    progress = download_progress(source.engine or "weights")
    shown = source.filename.rsplit("/", 1)[-1]  # the file, as progress shows it
    try:
        path = hf_hub_download(repo_id=source.repo_id, filename=source.filename, local_files_only=offline,
                               tqdm_class=bar_class(progress, shown, source.description))
    except Exception as exc:  # any Hub/network failure means: not available here
        reason = offline_reason() if offline else f"{type(exc).__name__}"
        # INFO, not WARNING: the error raised below says the same and names the fix; the
        # library's own exception text is kept here for whoever debugs a download.
        logger.info("weights download failed", extra={"repo_id": source.repo_id, "file": source.filename,
                                                      "error": str(exc)})
        variables = missing_variables(source)
        if len(variables) > 1:
            what = f"set {', '.join(variables)} to local copies (this engine needs them all)"
        else:
            what = f"set {source.env_var} to a local copy"
        if source.engine in FETCHED_BY_DOWNLOAD:
            what += f", or {DOWNLOAD_HINT}"
        message = (f"{source.description} {source.name} is not on this machine and could not be downloaded "
                   f"({reason}): {what}")
        progress.end_file(shown, error=message)
        raise WeightsMissingError(message) from exc
    progress.end_file(shown)
    logger.info("weights ready", extra={"repo_id": source.repo_id, "file": source.filename, "path": path})
    return Path(path)
