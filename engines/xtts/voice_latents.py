"""Each reference clip's XTTS conditioning (GPT latent, speaker embedding), computed once.

From the already-decoded clip with the model's own ``get_gpt_cond_latents`` /
``get_speaker_embedding`` (``get_conditioning_latents`` only takes paths, and no temp file is
written), kept in memory per content hash (32 clips) and in a saved voice's ``VoiceCache``,
keyed by the model's ``model_key``. Requests for a clip whose latents are being computed wait
for that computation instead of starting their own: a Studio line or video cue per user, all in
one new voice, costs the device one conditioning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from ..audio.waveforms import ReferenceAudio, resample
from ..base import LRUCache

GPT_SAMPLE_RATE = 22050

Latents = tuple[Any, Any, str]  # (gpt_cond_latent, speaker_embedding, where they came from)


class VoiceLatents:
    def __init__(self) -> None:
        self._memory = LRUCache(32)
        self._lock = threading.Lock()  # read from callers' threads too (``shared``)
        self._computing: dict[str, Future] = {}

    def clear(self) -> None:
        """Forget every clip's latents (the model they belong to goes)."""
        with self._lock:
            self._memory.clear()

    def in_memory(self, reference: ReferenceAudio) -> Latents | None:
        with self._lock:
            cached = self._memory.get(reference.sha256)
        return (*cached, "memory") if cached is not None else None

    def shared(self, reference: ReferenceAudio, compute: Callable[[], Latents],
               joining: Callable[[], None] | None = None) -> Latents:
        """From a caller's thread: the latents in memory, or the ones another request is computing
        now (``joining()`` first: a listener hurries that computation too), or ``compute()``'s
        (which others then wait for). A failure reaches every waiter."""
        with self._lock:
            cached = self._memory.get(reference.sha256)
            if cached is not None:
                return (*cached, "memory")
            pending = self._computing.get(reference.sha256)
            mine = pending is None
            if mine:
                pending = self._computing[reference.sha256] = Future()
        if not mine:
            if joining is not None:
                joining()
            latent, embedding, _ = pending.result()
            return latent, embedding, "memory"
        try:
            latents = compute()
            pending.set_result(latents)
            return latents
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._computing.pop(reference.sha256, None)

    def of_clip(self, model, model_key: str, device: str, reference: ReferenceAudio, cache=None) -> Latents:
        """On the device worker: the clip's latents from memory, the voice's cache, or the model."""
        import torch

        cached = self.in_memory(reference)
        if cached is not None:
            return cached
        stored = cache.load("xtts", model_key) if cache is not None else None
        if stored is not None and {"gpt_cond_latent", "speaker_embedding"} <= set(stored):
            pair = (stored["gpt_cond_latent"].to(device), stored["speaker_embedding"].to(device))
            with self._lock:
                self._memory.put(reference.sha256, pair)
            return (*pair, "voice_cache")
        config = model.config
        samples = resample(reference.samples, reference.sample_rate, GPT_SAMPLE_RATE)
        samples = samples[: int(config.max_ref_len * GPT_SAMPLE_RATE)]
        audio = torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(0)
        with torch.inference_mode():
            latent = model.get_gpt_cond_latents(audio, GPT_SAMPLE_RATE, length=config.gpt_cond_len,
                                                chunk_length=config.gpt_cond_chunk_len)
            embedding = model.get_speaker_embedding(audio, GPT_SAMPLE_RATE)
        with self._lock:
            self._memory.put(reference.sha256, (latent, embedding))
        if cache is not None:
            cache.save("xtts", model_key, {"gpt_cond_latent": latent.detach().float().cpu().contiguous(),
                                           "speaker_embedding": embedding.detach().float().cpu().contiguous()})
        return latent, embedding, "computed"
