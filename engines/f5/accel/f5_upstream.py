"""Upstream F5-TTS's own rules, as functions the accelerator and the engine share.

The time grid of ``CFM.sample``, the chunking of ``infer_process``, the length rule of
``infer_batch_process`` and the duration allocation of its ``fix_duration``: kept here, apart
from how the accelerator computes, so that the engine, the benchmarks and the tests that
compare against upstream use the very same rules.
"""

from __future__ import annotations

import torch

SAMPLE_RATE = 24000
HOP_LENGTH = 256


def upstream_time_grid(nfe_step: int, sway_sampling_coef: float | None, device) -> torch.Tensor:
    """``CFM.sample``'s time grid (EPSS for the predefined step counts): float32 ``[nfe_step + 1]``, 0 to 1."""
    from f5_tts.model.utils import get_epss_timesteps

    t = get_epss_timesteps(nfe_step, device=device, dtype=torch.float32)
    if sway_sampling_coef is not None:
        t = t + sway_sampling_coef * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return t


def upstream_chunks(ref_audio_seconds: float, ref_text: str, gen_text: str, speed: float = 1.0) -> list[str]:
    """``infer_process``'s chunking of a long text (its byte budget from the reference)."""
    from f5_tts.infer.utils_infer import chunk_text

    max_chars = int(len(ref_text.encode("utf-8")) / ref_audio_seconds * (22 - ref_audio_seconds) * speed)
    return chunk_text(gen_text, max_chars=max_chars)


def spaced_ref_text(ref_text: str) -> str:
    """``infer_batch_process`` adds a space after a transcript ending in a one-byte character."""
    return ref_text + " " if len(ref_text[-1].encode("utf-8")) == 1 else ref_text


def natural_frames(ref_frames: int, ref_text: str, gen_text: str, speed: float = 1.0) -> int:
    """``infer_batch_process``'s length rule: the frames generated for ``gen_text`` (after the reference),
    ``ref_text`` as that function sees it (``spaced_ref_text``).

    The reference's pace in frames per UTF-8 byte, times the text's bytes, over the speed
    (0.3 for a text under 10 bytes, as upstream does).
    """
    gen_bytes = len(gen_text.encode("utf-8"))
    local_speed = 0.3 if gen_bytes < 10 else speed
    return int(ref_frames / len(ref_text.encode("utf-8")) * gen_bytes / local_speed)


def fixed_durations(ref_frames: int, gen_texts: list[str], target_s: float, cross_fade_s: float) -> list[float]:
    """Upstream's ``fix_duration`` allocation: per chunk, reference + its share of the target (seconds).

    Shares follow the chunks' UTF-8 lengths; the cross-fades eaten by joining are added back.
    """
    ref_sec = ref_frames * HOP_LENGTH / SAMPLE_RATE
    weights = [len(text.encode("utf-8")) for text in gen_texts]
    allocatable = target_s + cross_fade_s * (len(gen_texts) - 1)
    return [ref_sec + allocatable * w / sum(weights) for w in weights]
