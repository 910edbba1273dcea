"""Reading an F5-TTS checkpoint into a model on the CPU, before it goes to the device.

Assembles the CFM model exactly as upstream's ``load_model`` does, but reads and normalises
the checkpoint in memory (``weights/checkpoints.py``) and checks it against the architecture
and vocab before the strict load, so a checkpoint that does not fit is refused with its reason.
Nothing here touches the device: a model switch stages the new weights while the old model serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, EngineUnavailableError, InputError
from ..settings import F5Settings, resolve_architecture
from ..weights.checkpoints import (
    build_cfm,
    check_against_model,
    describe_layout,
    normalize_f5_state_dict,
    read_checkpoint_file,
    write_patched_copy,
)
from .models import model_key


@dataclass(frozen=True)
class Staged:
    """A model built and loaded on the CPU, with what health tells of it."""

    model: Any
    vocoder_dir: Path
    details: dict
    settings: F5Settings


def stage_checkpoint(settings: F5Settings, cache_dir: Path | None, step: Callable[[str], None]) -> Staged:
    """Read, normalise and check ``settings``' checkpoint and build the model; ``step(what)`` tells the
    load's progress ("reading the checkpoint", "building the model")."""
    try:
        arch = resolve_architecture(settings.arch_spec)
    except InputError as exc:
        raise EngineUnavailableError(str(exc)) from exc
    ckpt_path = settings.checkpoint.resolve()
    vocab_path = settings.vocab.resolve()
    vocoder_dir = settings.vocoder.resolve()

    step("reading the checkpoint")
    read_start = time.perf_counter()
    raw = read_checkpoint_file(ckpt_path)
    patch_start = time.perf_counter()
    state = normalize_f5_state_dict(raw)
    layout = describe_layout(raw)
    patch_s = time.perf_counter() - patch_start
    del raw
    step("building the model")
    model, vocab_entries = build_cfm(arch.dit_kwargs, str(vocab_path))
    check_start = time.perf_counter()
    check_against_model(state, model.state_dict(), vocab_entries, arch.name)
    patch_s += time.perf_counter() - check_start  # normalising + checking: the cost of accepting any layout
    patched_copy = None
    if settings.patched_copy and cache_dir is not None:
        patched_copy = write_patched_copy(state, ckpt_path, cache_dir / "patched")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # check_against_model should have caught it; keep the message short
        raise CheckpointError(f"checkpoint does not fit {arch.name}: {str(exc).splitlines()[0]}") from exc
    del state
    details = {
        "checkpoint": settings.checkpoint.show(ckpt_path), "checkpoint_layout": layout,
        "architecture": arch.name, "assumed_settings": settings.assumed_note, "model_key": model_key(settings),
        "model_shape": {**dict(arch.dit_kwargs), "vocab": vocab_entries},
        "vocab_entries": vocab_entries, "read_s": round(patch_start - read_start, 3),
        "patch_s": round(patch_s, 3), "patched_copy": settings.checkpoint.show(patched_copy),
    }
    return Staged(model=model, vocoder_dir=vocoder_dir, details=details, settings=settings)
