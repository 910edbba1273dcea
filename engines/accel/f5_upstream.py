"""Upstream F5-TTS's own rules, as functions the accelerator and the engine share.

The time grid of ``CFM.sample``, the chunking of ``infer_process`` and the duration
allocation of its ``fix_duration``: kept here, apart from how the accelerator computes,
so that the benchmarks and tests that compare against upstream use the very same rules.
"""

from __future__ import annotations

import torch

SAMPLE_RATE = 24000
HOP_LENGTH = 256


def upstream_time_grid(nfe_step: int, sway_sampling_coef: float | None, device) -> torch.Tensor:
    """``CFM.sample``'s time grid (EPSS for the predefined step counts), in float32."""
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


def fixed_durations(ref_frames: int, gen_texts: list[str], target_s: float, cross_fade_s: float) -> list[float]:
    """Upstream's ``fix_duration`` allocation: per chunk, reference + its share of the target (seconds).

    Shares follow the chunks' UTF-8 lengths; the cross-fades eaten by joining are added back.
    """
    ref_sec = ref_frames * HOP_LENGTH / SAMPLE_RATE
    weights = [len(text.encode("utf-8")) for text in gen_texts]
    allocatable = target_s + cross_fade_s * (len(gen_texts) - 1)
    return [ref_sec + allocatable * w / sum(weights) for w in weights]
