"""F5-TTS checkpoint reading and normalisation, in memory.

Upstream's ``load_checkpoint`` only strips ``ema_model.`` and loads strictly, so a
checkpoint published with another key layout (``ema.``, ``module.``, ``model.``) fails
with a missing-keys dump, and people work around it by writing a patched multi-GB copy.
Here every layout is normalised in memory and checked against the architecture before
the strict load, and each problem is a ``CheckpointError`` that names the fix.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

from typing import TYPE_CHECKING

from ..errors import CheckpointError
from ..storage import atomic_write
from .sources import without_paths

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Keys of a CFM model's state dict start with one of these.
MODEL_ROOTS = ("transformer.", "mel_spec.")
# Wrapper prefixes, stripped repeatedly in any order:
#   ema_model.  the trainer's EMA (ema_pytorch) layout, as upstream expects
#   ema.        some fine-tunes publish EMA weights under this prefix (F5-TTS-pt-br reports)
#   module.     DataParallel / DDP wrappers
#   model.      checkpoints saved from a wrapping LightningModule-style object
WRAPPER_PREFIXES = ("ema_model.", "ema.", "module.", "model.")
# Bookkeeping entries of the EMA wrapper, not model weights.
DROPPED_KEYS = ("initted", "step")
# Mel filterbank/window buffers older checkpoints carry; the model rebuilds them (upstream 305e3ea).
DROPPED_BUFFERS = ("mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window")
TEXT_EMBED_KEY = "transformer.text_embed.text_embed.weight"


def read_checkpoint_file(path: str | os.PathLike) -> dict:
    """Read a checkpoint without executing untrusted pickles.

    safetensors files go through ``safetensors``; anything else through
    ``torch.load(weights_only=True)``, which refuses arbitrary objects.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path.name!r} does not exist: set F5TTS_CKPT to an existing file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint file {path.name!r} is empty (0 bytes): "
                              "set F5TTS_CKPT to a complete checkpoint")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"checkpoint {path.name} is not a readable safetensors file (truncated or corrupt): {without_paths(str(exc))}"
            ) from exc
    import torch  # imported here so `import engines` (and the app's start-up) stays light

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # weights_only refused a class or function reference
            raise CheckpointError(
                f"checkpoint {path.name} holds objects that are not plain tensors and was refused "
                f"(only weights are loaded, never arbitrary pickles): {_unsupported_global(exc)}"
            ) from exc
        raise CheckpointError(f"checkpoint {path.name} is not a readable PyTorch file (truncated or corrupt)") from exc
    except Exception as exc:  # garbage bytes surface as KeyError, EOFError, RuntimeError, ... depending on content
        raise CheckpointError(
            f"checkpoint {path.name} is not a readable PyTorch file (truncated or corrupt): {type(exc).__name__}"
        ) from exc


def _unsupported_global(exc: Exception) -> str:
    """Name what the pickle tried to import; never pass on torch's advice to allowlist it or to
    load with ``weights_only=False`` (that advice is how an untrusted file would run code)."""
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return f"it references {found.group(1)}" if found else "it holds more than tensors"


def _unwrap_training_checkpoint(raw: Mapping) -> tuple[Mapping, str]:
    """Pick the weights out of a ``.pt`` training checkpoint; prefer the EMA weights."""
    for key in ("ema_model_state_dict", "model_state_dict", "state_dict"):
        inner = raw.get(key)
        if isinstance(inner, Mapping):
            return inner, key
    return raw, "state dict"


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed and not key.startswith(MODEL_ROOTS):
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
                break
    return key


def normalize_f5_state_dict(raw: Mapping) -> dict[str, torch.Tensor]:
    """Return a state dict that ``CFM.load_state_dict(strict=True)`` accepts.

    Pure: ``raw`` is not modified and no tensor is copied.
    """
    import torch

    weights, _ = _unwrap_training_checkpoint(raw)
    normalized: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if key in DROPPED_KEYS or not isinstance(value, torch.Tensor):
            continue
        new_key = _strip_prefixes(key)
        if new_key in DROPPED_BUFFERS:
            continue
        if new_key in normalized:
            raise CheckpointError(f"checkpoint holds two tensors for {new_key!r} under different prefixes")
        normalized[new_key] = value
    if not normalized:
        raise CheckpointError("checkpoint holds no tensors: is this an F5-TTS checkpoint?")
    return normalized


def describe_layout(raw: Mapping) -> str:
    """A short name for the layout (for logs and health)."""
    import torch

    weights, container = _unwrap_training_checkpoint(raw)
    prefixes = sorted({k.split(".", 1)[0] + "." for k in weights if isinstance(weights[k], torch.Tensor)
                       and not k.startswith(MODEL_ROOTS) and "." in k})
    prefix = ",".join(prefixes) if prefixes else "no prefix"
    return f"{container} ({prefix})" if container != "state dict" else prefix


def check_against_model(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                        vocab_entries: int, arch_name: str) -> None:
    """Raise ``CheckpointError`` naming the first problem, before any strict load."""
    if TEXT_EMBED_KEY in state and TEXT_EMBED_KEY in expected:
        rows = state[TEXT_EMBED_KEY].shape[0]
        if rows != expected[TEXT_EMBED_KEY].shape[0]:
            raise CheckpointError(
                f"checkpoint vocab mismatch: vocab has {vocab_entries} entries, checkpoint expects {rows} "
                f"({rows - 1} entries + filler): set F5TTS_VOCAB to the vocab.txt the checkpoint was trained with"
            )
    unexpected = [k for k in state if k not in expected]
    missing = [k for k in expected if k not in state]
    if unexpected and missing and len(unexpected) >= len(expected) // 2:
        raise CheckpointError(
            f"checkpoint keys do not match the F5-TTS layout (e.g. {unexpected[0]!r}, expected "
            f"{missing[0]!r}): is this an F5-TTS checkpoint?"
        )
    if missing:
        raise CheckpointError(
            f"checkpoint lacks {len(missing)} tensors that {arch_name} needs (e.g. {missing[0]!r}): "
            f"set F5TTS_ARCH to the architecture it was trained with"
        )
    if unexpected:
        raise CheckpointError(
            f"checkpoint has {len(unexpected)} tensors that {arch_name} does not have (e.g. {unexpected[0]!r}): "
            f"set F5TTS_ARCH to the architecture it was trained with"
        )
    for key, tensor in state.items():
        want = tuple(expected[key].shape)
        if tuple(tensor.shape) != want:
            raise CheckpointError(
                f"tensor {key} has shape {tuple(tensor.shape)} but {arch_name} expects {want}: "
                f"set F5TTS_ARCH to the architecture the checkpoint was trained with"
            )


def _source_fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def patched_copy_path(source: Path, cache_dir: Path) -> Path:
    return cache_dir / f"{source.stem}.patched-{_source_fingerprint(source)}.safetensors"


def write_patched_copy(state: Mapping[str, torch.Tensor], source: Path, cache_dir: Path) -> Path | None:
    """Write the normalised weights once, atomically (``engines.storage.atomic_write``).

    Opt-in (``F5TTS_PATCHED_COPY=1``): the seed's behaviour, kept for people who want a
    file other tools can load. Returns the path, or None when writing failed (the caller
    keeps the in-memory weights).
    """
    from safetensors.torch import save

    target = patched_copy_path(source, cache_dir)
    if target.is_file():
        return target
    try:
        atomic_write(target, lambda handle: handle.write(save({k: v.contiguous() for k, v in state.items()})))
    except OSError as exc:
        logger.warning("could not write patched checkpoint copy; using in-memory weights",
                       extra={"target": str(target), "error": str(exc)})
        return None
    return target


def build_cfm(dit_kwargs, vocab_file: str):
    """The CFM model as ``f5_tts.infer.utils_infer.load_model`` assembles it (24 kHz, 256-sample hop), weights random."""
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer

    vocab_char_map, vocab_size = get_tokenizer(vocab_file, "custom")
    model = CFM(
        transformer=DiT(**dict(dit_kwargs), text_num_embeds=vocab_size, mel_dim=100),
        mel_spec_kwargs=dict(n_fft=1024, hop_length=256, win_length=1024, n_mel_channels=100,
                             target_sample_rate=24000, mel_spec_type="vocos"),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map=vocab_char_map,
    )
    return model, vocab_size
