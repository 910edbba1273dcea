"""Separate: dialogue from background with Demucs (htdemucs: vocals vs everything else).

    VOICE_STUDIO_SEPARATOR_MODEL   a demucs model file (.safetensors or .th) or a folder with
                                   a bag .yaml and its model files; unset: htdemucs from the
                                   Hub (hf://adefossez/HTDemucs), downloaded on first use

The sound is cut into the model's own segments (7.8 s for htdemucs) with a quarter of
overlap, and many segments go through one forward (demucs' ``apply_model`` on a batch,
in fp16 on a GPU), blended back with demucs' triangular weights. It streams: a batch is
read from ``original.flac`` and separated while the one before is blended and its
finished part written out, so the device does not wait on the disk and a 3-hour film
never sits in memory whole. Without weights the stage says why and
the job goes on: the original sound is then ducked under the dub.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import CheckpointError, WeightsMissingError
from engines.quality.pretrained import LazyModel, OnDevice, half_precision_ok
from engines.weights.sources import HF_SCHEME, FileSource, parse_hf_spec

from .demucs_files import bag_files, load_separator_model

logger = logging.getLogger("voice_studio.dubbing.video.separate")

SEPARATOR_VARIABLE = "VOICE_STUDIO_SEPARATOR_MODEL"
DEFAULT_SEPARATOR = "hf://adefossez/HTDemucs"   # demucs 4.1's own Hub home of htdemucs
DEFAULT_BAG = "htdemucs.yaml"
OVERLAP = 0.25
GPU_BATCH, CPU_BATCH = 16, 2       # segments per forward
DIALOGUE_FILE, BACKGROUND_FILE = "dialogue.flac", "background.flac"
DIALOGUE16K_FILE = "dialogue16k.wav"      # the dialogue as the speech models hear it (16 kHz mono)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class SeparatorSource:
    """Where the Demucs weights come from: a local file or folder, or a Hub repository."""

    spec: str
    env_var: str = SEPARATOR_VARIABLE

    @property
    def local(self) -> Path | None:
        return None if self.spec.startswith(HF_SCHEME) else Path(self.spec).expanduser()

    @property
    def local_dir(self) -> Path | None:
        """As ``PretrainedSource`` names it (``LazyModel.health`` reads it): the local file or folder."""
        return self.local

    def _hub(self, name: str) -> FileSource:
        repo, sub = parse_hf_spec(self.spec)
        return FileSource("separation model", self.env_var, repo_id=repo, filename=f"{sub}/{name}" if sub else name,
                          engine="separator")

    def missing_locally(self) -> list[str]:
        if self.local is not None:
            return [] if self.local.exists() else [self.local.name]
        bag = self._hub(DEFAULT_BAG).cached_path()
        if bag is None:
            return [DEFAULT_BAG]
        try:
            _, files = bag_files(bag.parent)
        except CheckpointError as exc:  # the bag is cached, a model file it names is not yet
            return [str(exc)]
        return [] if files else ["model files"]

    def resolve(self) -> Path:
        """The file or folder to load, downloading the bag and its models from the Hub when needed."""
        if self.local is not None:
            if not self.local.exists():
                raise WeightsMissingError(f"separation model {self.local.name!r} ({self.env_var}) does not exist: "
                                          f"set {self.env_var} to a demucs .th/.safetensors file or folder")
            return self.local
        import yaml

        bag = self._hub(DEFAULT_BAG).resolve()
        signatures = (yaml.safe_load(bag.read_text(encoding="utf-8")) or {}).get("models") or []
        for sig in signatures:
            self._hub(f"{sig}.safetensors").resolve()
        return bag.parent


class Separator(LazyModel):
    display_name = "Source separation (Demucs)"

    @classmethod
    def from_env(cls, device_preference: str, on_device: OnDevice, load_lock: threading.Lock | None = None,
                 environ: Mapping[str, str] | None = None) -> "Separator":
        env = os.environ if environ is None else environ
        return cls(SeparatorSource((env.get(SEPARATOR_VARIABLE) or "").strip() or DEFAULT_SEPARATOR), device_preference,
                   on_device, load_lock)

    def _stage(self, path: Path) -> Any:
        return load_separator_model(path)

    def _activate(self, staged: Any, device: str) -> tuple[Any, str]:
        return staged.to(device), device


def _weight(length: int):
    """demucs' blending window: a triangle peaking mid-segment (``apply_model``'s, transition power 1)."""
    half = length // 2
    rise = np.arange(1, half + 1, dtype=np.float32)
    fall = np.arange(length - half, 0, -1, dtype=np.float32)
    weight = np.concatenate([rise, fall])
    return weight / weight.max()


def separate(separator: Separator, original: Path, folder: Path, scale: tuple[float, float],
             progress: Progress | None = None) -> dict[str, Any]:
    """``original`` (stereo) split into ``dialogue.flac`` and ``background.flac`` in ``folder``.

    ``scale``: the mix's mean and standard deviation; demucs separates a normalised mix.
    """
    import soundfile as sf

    model, device = separator.ensure_loaded()
    rate = int(model.samplerate)
    segment = float(getattr(model, "max_allowed_segment", None) or model.segment)
    length = int(segment * rate)
    stride = int((1 - OVERLAP) * length)
    weight = _weight(length)
    vocals = list(model.sources).index("vocals")
    mean, std = scale
    half = half_precision_ok(device)
    notes: dict[str, Any] = {"fp16": half}
    batch = GPU_BATCH if device == "cuda" else CPU_BATCH

    def run(chunks: np.ndarray) -> np.ndarray:
        import torch
        from demucs.apply import apply_model

        x = torch.from_numpy(chunks)
        with torch.inference_mode():
            if notes["fp16"]:
                try:
                    with torch.autocast("cuda", dtype=torch.float16):
                        out = apply_model(model, x, shifts=0, split=False, segment=segment, device=device)
                except RuntimeError as exc:  # an op without a half kernel on this GPU: fp32 from now on
                    logger.warning("separation in fp16 failed; fp32 used", extra={"error": str(exc)[:200]})
                    notes.update(fp16=False, fp16_error=str(exc)[:200])
                    out = apply_model(model, x, shifts=0, split=False, segment=segment, device=device)
            else:
                out = apply_model(model, x, shifts=0, split=False, segment=segment, device=device)
            out = out.float()
            voice = out[:, vocals]
            rest = out.sum(dim=1) - voice
            return torch.stack([voice, rest], dim=1).cpu().numpy()

    dialogue_path, background_path = folder / DIALOGUE_FILE, folder / BACKGROUND_FILE
    with sf.SoundFile(original) as src, ThreadPoolExecutor(1, thread_name_prefix="separate") as reader:
        total = src.frames
        offsets = list(range(0, total, stride)) or [0]
        groups = [offsets[i: i + batch] for i in range(0, len(offsets), batch)]

        def separated(group: list[int]) -> np.ndarray:
            """(segment, stem, channel, sample) for ``group``'s segments: read, then run on the device."""
            src.seek(group[0])
            block = src.read(group[-1] + length - group[0], dtype="float32", always_2d=True).T
            chunks = np.zeros((len(group), 2, length), dtype=np.float32)
            for row, offset in enumerate(group):
                piece = block[:, offset - group[0]: offset - group[0] + length]
                chunks[row, :, :piece.shape[1]] = piece[: 2] if piece.shape[0] >= 2 else np.repeat(piece, 2, 0)
            return separator.on_device(lambda: run((chunks - mean) / std), "source separation")

        acc = np.zeros((2, 2, 0), dtype=np.float32)     # (stem, channel, samples) from ``base`` on
        acc_weight = np.zeros(0, dtype=np.float32)
        base = 0
        # The next batch is read and separated while this one is blended and written out.
        pending = reader.submit(separated, groups[0])
        with sf.SoundFile(dialogue_path, "w", rate, 2, format="FLAC") as d_out, \
                sf.SoundFile(background_path, "w", rate, 2, format="FLAC") as b_out:
            for n, group in enumerate(groups):
                estimates = pending.result()
                if n + 1 < len(groups):
                    pending = reader.submit(separated, groups[n + 1])
                end = min(total, group[-1] + length)
                grow = end - base - acc.shape[2]
                if grow > 0:
                    acc = np.concatenate([acc, np.zeros((2, 2, grow), dtype=np.float32)], axis=2)
                    acc_weight = np.concatenate([acc_weight, np.zeros(grow, dtype=np.float32)])
                for row, offset in enumerate(group):
                    count = min(length, total - offset)
                    a = offset - base
                    acc[:, :, a:a + count] += estimates[row, :, :, :count] * weight[:count]
                    acc_weight[a:a + count] += weight[:count]
                done = total if n + 1 == len(groups) else groups[n + 1][0]
                ready = done - base
                finished = acc[:, :, :ready] / np.maximum(acc_weight[:ready], 1e-8) * std + mean
                d_out.write(np.clip(finished[0].T, -1, 1))
                b_out.write(np.clip(finished[1].T, -1, 1))
                acc, acc_weight, base = acc[:, :, ready:], acc_weight[ready:], done
                if progress is not None:
                    progress(done / total, f"{done / rate:.0f} of {math.ceil(total / rate)} s separated")
    return {"status": "separated", "model": separator.spec, "dialogue": DIALOGUE_FILE, "background": BACKGROUND_FILE,
            "segment_s": round(segment, 3), "batch": batch, **notes}
