"""A streamed XTTS decode's audio, vocoded window by window as its latents come.

Upstream vocodes all latents so far at every chunk and cross-fades ``overlap_wav_len``
samples where the new decode meets the old one. Here the latents so far are turned into
HiFi-GAN's input frames exactly as one call would (the speed and sample-rate
interpolations are cheap), and only the newest frames are vocoded, with ``context``
latents' worth of frames of left context. A frame is 256 output samples, so every window
lands on the very samples the whole clip has; frames the next latents can still change
(interpolation edges) are held back, and the same overlap is held back and cross-faded.
"""

from __future__ import annotations

import torch


class StreamWindows:
    """Feed it (tokens so far, their latents, whether the decode ended); it hands back the next
    piece of audio once a chunk's worth of new latents (``first`` for the first piece, then
    ``every``) has come, or at the end."""

    def __init__(self, accelerator, speaker_embedding: torch.Tensor, speed: float, first: int, every: int,
                 context: int, overlap_wav_len: int = 1024):
        self.acc = accelerator
        self.speaker = speaker_embedding  # moved to the device at the first window (on the device's thread)
        self.speed = speed
        self.first, self.every = first, every
        self.overlap = overlap_wav_len
        decoder = accelerator.model.hifigan_decoder
        self.decoder = decoder
        self.hop = decoder.output_hop_length
        self.frames_per_latent = (decoder.ar_mel_length_compression / self.hop
                                  * decoder.output_sample_rate / decoder.input_sample_rate / max(speed, 0.05))
        self.context = int(context * self.frames_per_latent)
        self.emitted, self.held, self.done = 0, None, 0  # samples handed out; the overlap held back; latents vocoded

    def feed(self, n: int, latents: torch.Tensor, is_end: bool) -> torch.Tensor | None:
        """``latents`` ``[>= n, D]`` holds at least ``n`` rows; returns the next piece, float32 ``[samples]``
        at 24 kHz, or None (not yet, or nothing new)."""
        if not is_end and n - self.done < (self.every if self.done else self.first):
            return None
        hop = self.hop
        frames = self.acc._frames(latents[:n], self.speed)
        total = frames.shape[-1]
        # Linear interpolation reads up to two latents ahead: frames that close to the end move
        # when more latents come, so only the end of the stream emits them.
        stable = total if is_end else min(total, int((n - 2) * self.frames_per_latent))
        end = stable * hop if is_end else stable * hop - self.overlap
        if end <= self.emitted:
            return None
        first = max(0, self.emitted // hop - self.context)
        # cuDNN here: a stream's windows come in a few lengths (context + one chunk; the last
        # differs), so their per-shape plans are built once and reused, and cuDNN's kernels
        # are about 4x faster than PyTorch's own on HiFi-GAN (bench/serving/cold_probe.py).
        self.speaker = self.speaker.to(self.acc.device)
        window = self.decoder.waveform_decoder(frames[..., first:total], g=self.speaker).reshape(-1)
        offset = first * hop  # where the window starts in the whole clip
        piece = window[self.emitted - offset: end - offset].clone()
        if self.held is not None and piece.shape[0]:
            k = min(self.held.shape[0], piece.shape[0])
            ramp = torch.linspace(0.0, 1.0, k, device=piece.device)
            piece[:k] = self.held[:k] * (1 - ramp) + piece[:k] * ramp
        self.held = None if is_end else window[end - offset: stable * hop - offset].clone()
        self.emitted = end
        self.done = n
        return piece if piece.shape[0] else None
