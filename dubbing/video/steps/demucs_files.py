"""Demucs weights, read without unpickling anything a stranger wrote.

demucs' own loaders trust their files: ``demucs.states.load_model`` calls
``torch.load(weights_only=False)`` on a package dict that names a class to call, and
``demucs.hf.load_safetensors_model`` imports whatever module a file's metadata names.
Here the same layouts are read safely:

- ``<sig>.safetensors`` (demucs' Hub layout): tensors, plus the class name and its
  arguments as JSON in the metadata. The class must be one of demucs' model classes.
- ``<sig>.th`` (the legacy package): ``torch.load(weights_only=True)`` with only
  demucs' model classes (and ``fractions.Fraction``, for ``segment``) allow-listed.
- a folder with a bag ``<name>.yaml`` (``models: [sig, ...]``, optional ``weights`` and
  ``segment``) beside those files, as ``demucs --repo`` and the Hub repositories hold them.

Quantized (diffq) packages are refused: they need an extra library and are not the
default models.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from engines.errors import CheckpointError

ALLOWED_CLASSES = ("demucs.htdemucs.HTDemucs", "demucs.hdemucs.HDemucs", "demucs.demucs.Demucs")
WEIGHT_SUFFIXES = (".safetensors", ".th")


def _classes() -> dict[str, type]:
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return {f"{k.__module__}.{k.__name__}": k for k in (HTDemucs, HDemucs, Demucs)}


def _build(name: str, klass: Any, args: Any, kwargs: Any, state: dict[str, Any]):
    from demucs.states import load_model

    classes = _classes()
    if klass not in classes.values():
        raise CheckpointError(f"separation model {name} names class {klass!r}, not one of {', '.join(ALLOWED_CLASSES)}")
    if not isinstance(state, dict) or state.get("__quantized"):
        raise CheckpointError(f"separation model {name} is quantized (diffq); use a plain model such as htdemucs")
    return load_model({"klass": klass, "args": list(args or ()), "kwargs": dict(kwargs or {}), "state": state})


def load_safetensors_model(path: Path):
    """One model from demucs' Hub layout (class and arguments in the metadata, as JSON)."""
    from demucs.hf import _decode_json
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
        if "structure" in metadata:
            raise CheckpointError(f"separation model {path.name} is quantized (diffq); use a plain model")
        klass = _classes().get(metadata.get("klass", ""))
        if klass is None:
            raise CheckpointError(f"separation model {path.name} names class {metadata.get('klass')!r}, "
                                  f"not one of {', '.join(ALLOWED_CLASSES)}")
        args = _decode_json(json.loads(metadata.get("args") or "[]"))
        kwargs = _decode_json(json.loads(metadata.get("kwargs") or "{}"))
    except (OSError, ValueError, KeyError) as exc:  # safetensors' and json's own errors are ValueErrors
        raise CheckpointError(f"separation model {path.name} is unreadable ({type(exc).__name__}: {exc})") from exc
    return _build(path.name, klass, args, kwargs, state)


def load_th_model(path: Path):
    """One model from a legacy ``.th`` package, unpickled with only demucs' classes allowed."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals([*_classes().values(), Fraction]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
        raise CheckpointError(f"separation model {path.name} cannot be read safely ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); use a demucs .th or "
                              ".safetensors model") from exc
    if not isinstance(package, dict) or not {"klass", "state"} <= set(package):
        raise CheckpointError(f"separation model {path.name} is not a demucs model package")
    return _build(path.name, package["klass"], package.get("args"), package.get("kwargs"), package["state"])


def load_model_file(path: Path):
    if path.suffix == ".safetensors":
        return load_safetensors_model(path)
    if path.suffix == ".th":
        return load_th_model(path)
    raise CheckpointError(f"separation model {path.name}: expected a .safetensors or .th file")


def bag_files(folder: Path) -> tuple[dict[str, Any], list[Path]]:
    """The bag definition in ``folder`` and each of its models' files."""
    import yaml

    yamls = sorted(folder.glob("*.yaml"))
    if not yamls:
        singles = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
        if len(singles) == 1:
            return {"models": [singles[0].stem]}, singles
        raise CheckpointError(f"separation model folder {folder.name} holds no bag .yaml and not exactly one "
                              "model file")
    preferred = [p for p in yamls if p.stem == "htdemucs"] or yamls
    try:
        bag = yaml.safe_load(preferred[0].read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{preferred[0].name} is unreadable ({type(exc).__name__})") from exc
    signatures = bag.get("models") if isinstance(bag, dict) else None
    if not isinstance(signatures, list) or not signatures or not all(isinstance(s, str) for s in signatures):
        raise CheckpointError(f"{preferred[0].name} lists no models (expected models: [signature, ...])")
    files = []
    for sig in signatures:
        found = [folder / f"{sig}.safetensors", folder / f"{sig}.th", *sorted(folder.glob(f"{sig}-*.th"))]
        present = [p for p in found if p.is_file() and "/" not in sig and ".." not in sig]
        if not present:
            raise CheckpointError(f"{preferred[0].name} names model {sig!r}, but {sig}.safetensors is not beside it")
        files.append(present[0])
    return bag, files


def load_separator_model(path: Path):
    """A demucs model (or bag of models) from a file or a folder, on the CPU, in eval mode."""
    from demucs.apply import BagOfModels

    path = Path(path)
    if path.is_dir():
        bag, files = bag_files(path)
        models = [load_model_file(p) for p in files]
        segment = bag.get("segment")
        model = BagOfModels(models, bag.get("weights"), float(segment) if segment is not None else None)
    else:
        model = load_model_file(path)
    if "vocals" not in model.sources:
        raise CheckpointError(f"separation model {path.name} has no vocals stem (its stems: {', '.join(model.sources)})")
    return model.eval()
