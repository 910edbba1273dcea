"""Which F5-TTS checkpoint to run: the known ones, each bound to its architecture, or a custom one.

An admin switches the model while the app runs (``EngineManager.switch_model``). What can be
picked is what ``F5TTS_MODEL`` and ``F5TTS_CKPT`` can name at start-up, bound the same way:

- a known checkpoint (``KNOWN_F5_CHECKPOINTS``) brings its file, vocab, architecture (v0 or v1:
  the weights cannot tell, and the wrong one speaks gibberish) and languages;
- a custom checkpoint (a local ``.safetensors`` / ``.pt`` file or ``hf://owner/repo/file``) takes
  the architecture, vocab and languages given with it, else those the app was started with, and
  health says which were assumed.

``settings_for`` checks everything that can be checked without reading the weights (names,
the architecture, that a local file exists, that a Hub file can be had), so a bad pick is
refused before the running model is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError, WeightsMissingError
from ..languages import normalize_language
from ..settings import (KNOWN_F5_CHECKPOINTS, NAMED_ARCHS, F5Settings, KnownF5Checkpoint, f5_settings,
                        resolve_architecture)
from ..weights.sources import DOWNLOAD_HINT, HF_SCHEME, FileSource, hub_offline, offline_reason, parse_hf_spec

CUSTOM = "custom"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")
MAX_SPEC_CHARS = 1000
MAX_LANGUAGES = 32
ARCH_WORDS = {"F5TTS_Base": "v0", "F5TTS_v1_Base": "v1"}


@dataclass(frozen=True)
class F5ModelChoice:
    """What an admin picks. ``model``: a key of ``KNOWN_F5_CHECKPOINTS`` or ``"custom"``.

    The other fields are for a custom checkpoint only; None (or empty) means "as the app was
    started" (``F5TTS_ARCH``, ``F5TTS_VOCAB``, ``F5TTS_LANGUAGES``, else ``F5TTS_MODEL``'s entry).
    """

    model: str
    checkpoint: str | None = None      # a local file or hf://owner/repo/path/file
    architecture: str | None = None    # F5TTS_Base (v0) | F5TTS_v1_Base (v1)
    vocab: str | None = None           # the checkpoint's vocab.txt, a local file or hf://
    languages: str | None = None       # comma list, e.g. "pt-BR,en"


def describe_known(known: KnownF5Checkpoint) -> str:
    """E.g. ``SWivid/F5-TTS: F5TTS_v1_Base (v1), en, zh-CN``."""
    return f"{known.key}: {known.arch} ({ARCH_WORDS.get(known.arch, known.arch)}), {', '.join(known.languages)}"


def model_choices() -> list[tuple[str, str]]:
    """(label, value) for each known checkpoint, then the custom one."""
    return [(describe_known(k), k.key) for k in KNOWN_F5_CHECKPOINTS.values()] + [
        ("Custom checkpoint (a path or hf://)", CUSTOM)]


def model_key(settings: F5Settings) -> str:
    """The ``F5TTS_MODEL`` key these settings run, or ``"custom"``."""
    return settings.known.key if settings.known is not None else CUSTOM


def settings_for(choice: F5ModelChoice, configured: F5Settings) -> F5Settings:
    """The settings that run ``choice``; ``configured`` (the start-up settings) fills what a custom
    pick leaves out. Raises ``InputError`` naming what is wrong; reads no weights."""
    key = _text(choice.model, "model") or ""
    show_paths = configured.checkpoint.show_path
    common = dict(patched_copy=configured.patched_copy, show_paths=show_paths)
    if key in KNOWN_F5_CHECKPOINTS:
        settings = f5_settings(KNOWN_F5_CHECKPOINTS[key], configured.vocoder, **common)
    elif key == CUSTOM:
        spec = _text(choice.checkpoint, "checkpoint")
        if not spec:
            raise InputError("a custom model needs its checkpoint: a .safetensors or .pt file, or "
                             "hf://owner/repo/path/model.safetensors")
        _check_checkpoint_spec(spec)
        given_arch = _text(choice.architecture, "architecture")
        if given_arch and given_arch not in NAMED_ARCHS:
            raise InputError(f"architecture {given_arch!r} is unknown; use {' or '.join(NAMED_ARCHS)}")
        vocab_spec = _text(choice.vocab, "vocab")
        vocab = (FileSource.from_spec(vocab_spec, "F5-TTS vocab", "F5TTS_VOCAB", engine="f5tts", show_path=show_paths)
                 if vocab_spec else configured.vocab)
        languages = _languages(choice.languages)
        default = configured.known or KNOWN_F5_CHECKPOINTS[configured.assumed_from or next(iter(KNOWN_F5_CHECKPOINTS))]
        settings = f5_settings(default, configured.vocoder, checkpoint=spec, vocab=vocab,
                               arch_spec=given_arch or configured.arch_spec,
                               languages=languages or configured.languages, **common)
        # What the pick left out was taken from the running configuration: health says so.
        assumed = [(var, value) for var, given, value in (
            ("F5TTS_ARCH", given_arch, Path(settings.arch_spec).name),
            ("F5TTS_VOCAB", vocab_spec, settings.vocab.name),
            ("F5TTS_LANGUAGES", languages, ",".join(settings.languages))) if not given]
        if settings.known is None:
            settings = replace(settings, assumed=tuple(sorted(assumed)), assumed_from="the app's start-up configuration")
    else:
        raise InputError(f"model {key!r} is unknown; choose one of: " + ", ".join([*KNOWN_F5_CHECKPOINTS, CUSTOM]))
    resolve_architecture(settings.arch_spec)  # a JSON file that is gone or broken: said now
    for source in (settings.checkpoint, settings.vocab):
        _check_available(source)
    return settings


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > MAX_SPEC_CHARS:
        raise InputError(f"{name} is {len(value)} characters long; at most {MAX_SPEC_CHARS}")
    return value.strip() or None


def _languages(value: str | None) -> tuple[str, ...] | None:
    text = _text(value, "languages")
    if not text:
        return None
    codes = [part.strip() for part in text.split(",") if part.strip()]
    if len(codes) > MAX_LANGUAGES:
        raise InputError(f"{len(codes)} languages given; at most {MAX_LANGUAGES}")
    return tuple(dict.fromkeys(normalize_language(code) for code in codes))


def _check_checkpoint_spec(spec: str) -> None:
    if spec.startswith(HF_SCHEME):
        _, filename = parse_hf_spec(spec)
        name = filename.rsplit("/", 1)[-1]
    else:
        name = Path(spec).name
    if not name.lower().endswith(CHECKPOINT_SUFFIXES):
        raise InputError(f"checkpoint {name!r} is not a checkpoint file: name a {', '.join(CHECKPOINT_SUFFIXES)} "
                         "file (a local path or hf://owner/repo/path/file)")


def _check_available(source: FileSource) -> None:
    """A local file must exist (a regular file); a Hub file must be cached or the Hub must answer."""
    if source.cached_path() is not None:
        return
    if source.local_path is not None:
        raise InputError(f"{source.description} {source.name!r} does not exist on the server (or is not a file)")
    if hub_offline():
        raise WeightsMissingError(f"{source.description} {source.name} is not on this machine and cannot be "
                                  f"downloaded now ({offline_reason()}): {DOWNLOAD_HINT}, or pick a model whose "
                                  "weights are here")
