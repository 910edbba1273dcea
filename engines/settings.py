"""Configuration from the environment: the public variables and the known checkpoints.

Variables (a public contract; extend, never rename):
  F5TTS_CKPT        F5-TTS checkpoint (.safetensors or .pt): a path or hf://owner/repo/path
  F5TTS_VOCAB       vocab.txt (default: the registry's, else f5-tts's packaged vocab)
  F5TTS_ARCH        F5TTS_Base | F5TTS_v1_Base | path to a JSON file of DiT keyword arguments
  F5TTS_LANGUAGES   comma list of languages the checkpoint speaks
  F5TTS_VOCODER     a Vocos directory with config.yaml and pytorch_model.bin
  F5TTS_MODEL       a key of KNOWN_F5_CHECKPOINTS (default firstpixel/F5-TTS-pt-br)
  F5TTS_PATCHED_COPY  1 to also write a normalised safetensors copy once (off by default)
  XTTS_MODEL        a directory with config.json, model.pth, vocab.json [, speakers_xtts.pth]
  VOICE_STUDIO_DEVICE      auto | cuda | cpu
  VOICE_STUDIO_CACHE_DIR   where derived files go (default ~/.cache/voice-studio)
  VOICE_STUDIO_PRESETS_DIR optional <preset>.wav + <preset>.txt references for F5-TTS presets
  VOICE_STUDIO_MAX_TEXT_CHARS  text length limit (default 5000)
  VOICE_STUDIO_HEALTH_PATHS    1: health shows local model paths in full (default: file names only)
  VOICE_STUDIO_XTTS_BATCH      on (default) | fixed | off: XTTS decodes batched continuously (off: one at a time)
  VOICE_STUDIO_XTTS_MAX_BATCH  XTTS decodes in flight at once (default: from free GPU memory, at most 16; CPU 4)
  VOICE_STUDIO_XTTS_SLICE_STEPS  XTTS decode steps per turn on the device worker (default 128)
  VOICE_STUDIO_XTTS_VOCODE     lane (default) | worker: where a batched XTTS row's HiFi-GAN runs
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from .errors import InputError
from .languages import from_xtts_code, normalize_language
from .weights.sources import DirSource, FileSource, linked
from .text.checks import DEFAULT_MAX_TEXT_CHARS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownF5Checkpoint:
    """A published F5-TTS checkpoint bound to what the weights cannot tell: arch and languages."""

    key: str
    repo_id: str
    filename: str
    arch: str
    languages: tuple[str, ...]
    license: str
    vocab_filename: str | None = None  # None: f5-tts's packaged default vocab

    @property
    def spec(self) -> str:
        return f"hf://{self.repo_id}/{self.filename}"


KNOWN_F5_CHECKPOINTS: dict[str, KnownF5Checkpoint] = {
    c.key: c
    for c in (
        # Published before v1, so the v0 architecture; ships no vocab.txt (packaged default).
        KnownF5Checkpoint("firstpixel/F5-TTS-pt-br", "firstpixel/F5-TTS-pt-br", "pt-br/model_last.safetensors",
                          "F5TTS_Base", ("pt-BR",), "CC-BY-NC-4.0"),
        KnownF5Checkpoint("SWivid/F5-TTS", "SWivid/F5-TTS", "F5TTS_v1_Base/model_1250000.safetensors",
                          "F5TTS_v1_Base", ("en", "zh-CN"), "CC-BY-NC-4.0", "F5TTS_v1_Base/vocab.txt"),
        KnownF5Checkpoint("SWivid/F5-TTS:F5TTS_Base", "SWivid/F5-TTS", "F5TTS_Base/model_1200000.safetensors",
                          "F5TTS_Base", ("en", "zh-CN"), "CC-BY-NC-4.0", "F5TTS_Base/vocab.txt"),
    )
}
DEFAULT_F5_MODEL = "firstpixel/F5-TTS-pt-br"
DEFAULT_VOCODER = "hf://charactr/vocos-mel-24khz"
DEFAULT_XTTS = "hf://coqui/XTTS-v2"
XTTS_LICENSE = "Coqui Public Model License 1.0.0"
NAMED_ARCHS = ("F5TTS_Base", "F5TTS_v1_Base")


@dataclass(frozen=True)
class Architecture:
    name: str
    dit_kwargs: Mapping[str, object]


@lru_cache(maxsize=8)
def _packaged_arch(name: str) -> dict:
    import yaml

    config = yaml.safe_load(files("f5_tts").joinpath(f"configs/{name}.yaml").read_text())
    return dict(config["model"]["arch"])


def resolve_architecture(spec: str) -> Architecture:
    """``F5TTS_Base`` / ``F5TTS_v1_Base`` (from f5-tts's packaged configs) or a JSON file."""
    if spec in NAMED_ARCHS:
        return Architecture(spec, _packaged_arch(spec))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"F5TTS_ARCH={path.name!r} is neither {' nor '.join(NAMED_ARCHS)} nor an existing JSON file")
    try:
        kwargs = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"F5TTS_ARCH file {path.name!r} is not valid JSON: {exc}") from exc
    if not isinstance(kwargs, dict):
        raise InputError(f"F5TTS_ARCH file {path.name!r} must hold a JSON object of DiT keyword arguments")
    return Architecture(path.stem, kwargs)


def packaged_vocab() -> Path:
    return Path(str(files("f5_tts").joinpath("infer/examples/vocab.txt")))


@dataclass(frozen=True)
class F5Settings:
    checkpoint: FileSource
    vocab: FileSource
    arch_spec: str
    languages: tuple[str, ...]
    vocoder: DirSource
    known: KnownF5Checkpoint | None
    patched_copy: bool = False
    # (variable, value) for each setting taken from the default model because a custom
    # F5TTS_CKPT left it unset: the weights cannot tell their architecture, vocab or languages.
    assumed: tuple[tuple[str, str], ...] = ()
    assumed_from: str | None = None

    @property
    def license(self) -> str | None:
        return self.known.license if self.known else None

    @property
    def sources(self) -> tuple[FileSource | DirSource, ...]:
        return self.checkpoint, self.vocab, self.vocoder

    @property
    def assumed_note(self) -> str | None:
        """What a custom checkpoint was assumed to be, and how to say otherwise; None when nothing was."""
        if not self.assumed:
            return None
        values = ", ".join(f"{name}={value}" for name, value in self.assumed)
        return (f"F5TTS_CKPT is not a known checkpoint, so these settings of {self.assumed_from} were assumed: "
                f"{values}. A checkpoint trained otherwise loads but speaks gibberish: set "
                f"{', '.join(name for name, _ in self.assumed)} to what it was trained with")


@dataclass(frozen=True)
class XttsSettings:
    model_dir: DirSource
    # The languages the model's config.json declares, read when it is on this machine (no
    # network); None: unknown until the model loads.
    declared_languages: tuple[str, ...] | None = None
    # Continuous batching of decodes (engines/xtts/accel/xtts_batch.py): "on" (step at the next batch-size
    # bucket), "fixed" (every step at max_batch rows: a row never depends on its batch mates) or "off".
    batch: str = "on"
    max_batch: int | None = None  # None: sized from the free GPU memory (CPU: 4)
    slice_steps: int = 128
    # Where a batched row's HiFi-GAN runs: "lane" (a thread beside the device worker with its own CUDA
    # stream, overlapping the other rows' decode steps: engines/gpu/side_lane.py) or "worker" (on the
    # worker, inside the decode slice, as before the lane).
    vocode: str = "lane"

    @property
    def sources(self) -> tuple[DirSource, ...]:
        return (self.model_dir,)


@dataclass(frozen=True)
class Settings:
    f5: F5Settings
    xtts: XttsSettings
    device: str = "auto"
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "voice-studio")
    presets_dir: Path | None = None
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    # auto | graphs | compile | off: engines/f5/accel and engines/xtts/accel (graphs and compile only on CUDA)
    accel: str = "auto"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        show_paths = flag_setting(env, "VOICE_STUDIO_HEALTH_PATHS")
        xtts_dir = DirSource.from_spec(
            env.get("XTTS_MODEL") or DEFAULT_XTTS, "XTTS-v2 model", "XTTS_MODEL",
            required=("config.json", "model.pth", "vocab.json"), optional=("speakers_xtts.pth",), engine="xtts",
            show_path=show_paths)
        return cls(
            f5=_f5_settings(env, show_paths),
            xtts=XttsSettings(xtts_dir, declared_languages=_declared_xtts_languages(xtts_dir),
                              batch=_xtts_batch(env.get("VOICE_STUDIO_XTTS_BATCH", "on")),
                              max_batch=number_setting(env, "VOICE_STUDIO_XTTS_MAX_BATCH", None, low=1,
                                                       high=MAX_XTTS_BATCH),
                              slice_steps=number_setting(env, "VOICE_STUDIO_XTTS_SLICE_STEPS", 128, low=8,
                                                         high=100_000),
                              vocode=_xtts_vocode(env.get("VOICE_STUDIO_XTTS_VOCODE", "lane"))),
            device=_device_preference(env.get("VOICE_STUDIO_DEVICE", "auto")),
            cache_dir=Path(env.get("VOICE_STUDIO_CACHE_DIR") or Path.home() / ".cache" / "voice-studio").expanduser(),
            presets_dir=Path(env["VOICE_STUDIO_PRESETS_DIR"]).expanduser() if env.get("VOICE_STUDIO_PRESETS_DIR") else None,
            max_text_chars=positive_int_env(env, "VOICE_STUDIO_MAX_TEXT_CHARS", DEFAULT_MAX_TEXT_CHARS),
            accel=accel_setting(env),
        )

    def weight_sources(self, engine: str) -> tuple[FileSource | DirSource, ...]:
        """Every weight file or folder ``engine`` loads from."""
        sources = {"f5tts": self.f5.sources, "xtts": self.xtts.sources}
        if engine not in sources:
            raise InputError(f"unknown engine {engine!r}; valid engines: " + ", ".join(sources))
        return sources[engine]


# auto = graphs: the accelerated paths, each bucketed shape captured as a CUDA graph in the
# background after load. compile: the F5 step also compiled first (faster steps, but the
# compile runs in a background thread of the serving process). off: upstream's inference.
ACCEL_MODES = ("auto", "graphs", "compile", "off")


def accel_setting(env: Mapping[str, str]) -> str:
    """``VOICE_STUDIO_ACCEL``: one of ``ACCEL_MODES`` (default auto)."""
    value = (env.get("VOICE_STUDIO_ACCEL", "auto") or "auto").strip().lower()
    if value not in ACCEL_MODES:
        raise InputError(f"VOICE_STUDIO_ACCEL={value!r}: use " + ", ".join(ACCEL_MODES))
    return value


XTTS_BATCH_MODES = {"on": "on", "1": "on", "true": "on", "yes": "on", "fixed": "fixed",
                    "off": "off", "0": "off", "false": "off", "no": "off"}
MAX_XTTS_BATCH = 64


def _xtts_batch(value: str) -> str:
    mode = XTTS_BATCH_MODES.get((value or "on").strip().lower())
    if mode is None:
        raise InputError(f"VOICE_STUDIO_XTTS_BATCH={value!r}: use on, fixed or off (1 / 0)")
    return mode


XTTS_VOCODE_MODES = ("lane", "worker")


def _xtts_vocode(value: str) -> str:
    mode = (value or "lane").strip().lower()
    if mode not in XTTS_VOCODE_MODES:
        raise InputError(f"VOICE_STUDIO_XTTS_VOCODE={value!r}: use lane or worker")
    return mode


def number_setting(env: Mapping[str, str], name: str, default, *, low=None, high=None, kind=int,
                   error: type[Exception] = InputError):
    """A numeric variable: ``default`` when unset or empty, else a ``kind`` within [low, high].

    ``error`` is the exception to raise, with a message naming the variable and the range.
    """
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        what = "an integer" if kind is int else "a number"
        raise error(f"{name}={raw!r} is not {what}") from exc
    if isinstance(value, float) and not math.isfinite(value):
        raise error(f"{name}={raw} is not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else 'any'} to {high if high is not None else 'any'}"
        raise error(f"{name}={raw} is out of range ({bounds})")
    return value


def positive_int_env(env: Mapping[str, str], name: str, default: int) -> int:
    return number_setting(env, name, default, low=1)


TRUE_WORDS = ("1", "true", "yes", "on")


def flag_setting(env: Mapping[str, str], name: str) -> bool:
    """A yes/no variable: on for 1, true, yes or on (any case, spaces ignored); off when unset or else."""
    return (env.get(name) or "").strip().lower() in TRUE_WORDS


# A config.json larger than this is not an XTTS config; the load will say what it is.
MAX_CONFIG_BYTES = 1 << 20


def _declared_xtts_languages(model_dir: DirSource) -> tuple[str, ...] | None:
    """The languages in the model's config.json when it is on this machine, so a language the
    model does not speak is refused before anything loads."""
    path = model_dir.file("config.json").cached_path()
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        codes = json.loads(path.read_text(encoding="utf-8")).get("languages")
    except (OSError, ValueError, AttributeError) as exc:  # unreadable now: the load reports it properly
        logger.info("XTTS config.json not readable before load", extra={"error": f"{type(exc).__name__}"})
        return None
    if not isinstance(codes, list):
        return None
    served = tuple(code for code in (from_xtts_code(c) for c in codes if isinstance(c, str)) if code is not None)
    return served or None


def _device_preference(value: str) -> str:
    value = (value or "auto").strip().lower()
    if value not in ("auto", "cuda", "cpu"):
        raise InputError(f"VOICE_STUDIO_DEVICE={value!r}: use auto, cuda or cpu")
    return value


def _f5_settings(env: Mapping[str, str], show_paths: bool = False) -> F5Settings:
    model_key = env.get("F5TTS_MODEL") or DEFAULT_F5_MODEL
    if model_key not in KNOWN_F5_CHECKPOINTS:
        raise InputError(f"F5TTS_MODEL={model_key!r} is unknown; known: " + ", ".join(KNOWN_F5_CHECKPOINTS))
    vocoder = DirSource.from_spec(env.get("F5TTS_VOCODER") or DEFAULT_VOCODER, "Vocos vocoder", "F5TTS_VOCODER",
                                  required=("config.yaml", "pytorch_model.bin"), engine="f5tts", show_path=show_paths)
    languages = None
    if env.get("F5TTS_LANGUAGES"):
        languages = tuple(normalize_language(x) for x in env["F5TTS_LANGUAGES"].split(",") if x.strip())
    vocab = FileSource.from_spec(env["F5TTS_VOCAB"], "F5-TTS vocab", "F5TTS_VOCAB", engine="f5tts",
                                 show_path=show_paths) if env.get("F5TTS_VOCAB") else None
    return f5_settings(KNOWN_F5_CHECKPOINTS[model_key], vocoder, checkpoint=env.get("F5TTS_CKPT") or None,
                       vocab=vocab, arch_spec=env.get("F5TTS_ARCH") or None, languages=languages,
                       patched_copy=flag_setting(env, "F5TTS_PATCHED_COPY"), show_paths=show_paths)


def f5_settings(default: KnownF5Checkpoint, vocoder: DirSource, *, checkpoint: str | None = None,
                vocab: FileSource | None = None, arch_spec: str | None = None,
                languages: tuple[str, ...] | None = None, patched_copy: bool = False,
                show_paths: bool = False) -> F5Settings:
    """F5-TTS settings as the variables give them: ``default`` is ``F5TTS_MODEL``'s entry, the
    others ``F5TTS_CKPT``, ``F5TTS_VOCAB``, ``F5TTS_ARCH``, ``F5TTS_LANGUAGES`` (None: unset).

    A checkpoint that is not a known one takes what it leaves unset from ``default`` and says so
    (``assumed``): the weights cannot tell their architecture, vocab or languages.
    """
    ckpt_spec = checkpoint or default.spec
    # A checkpoint given by hand binds to a registry entry only when it is that entry's file.
    known = default if ckpt_spec == default.spec else next(
        (c for c in KNOWN_F5_CHECKPOINTS.values() if c.spec == ckpt_spec), None)
    bound = known or default  # what a custom checkpoint inherits, and says so (``assumed``)
    assumed: list[tuple[str, str]] = []
    source_args = dict(engine="f5tts", show_path=show_paths)
    if vocab is None and bound.vocab_filename:
        vocab = FileSource("F5-TTS vocab", "F5TTS_VOCAB", repo_id=bound.repo_id, filename=bound.vocab_filename,
                           **source_args)
        assumed.append(("F5TTS_VOCAB", vocab.name))
    elif vocab is None:
        vocab = FileSource("F5-TTS vocab", "F5TTS_VOCAB", local_path=packaged_vocab(), **source_args)
        assumed.append(("F5TTS_VOCAB", "f5-tts's packaged vocab.txt"))
    if not arch_spec:
        arch_spec = bound.arch
        assumed.append(("F5TTS_ARCH", arch_spec))
    if not languages:
        languages = bound.languages
        assumed.append(("F5TTS_LANGUAGES", ",".join(languages)))
    checkpoint_source, vocab, vocoder = linked(
        FileSource.from_spec(ckpt_spec, "F5-TTS checkpoint", "F5TTS_CKPT", **source_args), vocab, vocoder)
    custom = known is None
    return F5Settings(
        checkpoint=checkpoint_source,
        vocab=vocab,
        arch_spec=arch_spec,
        languages=languages,
        vocoder=vocoder,
        known=known,
        patched_copy=patched_copy,
        assumed=tuple(sorted(assumed)) if custom else (),
        assumed_from=default.key if custom else None,
    )


def resolve_device(preference: str) -> str:
    import torch

    if preference == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if preference == "cuda":
        from .errors import EngineUnavailableError

        raise EngineUnavailableError("VOICE_STUDIO_DEVICE=cuda but no CUDA device is visible: use auto or cpu")
    return "cpu"
