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

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """The next piece's HiFi-GAN work, planned where the latents are (``StreamWindows.plan``)."""

    frames: torch.Tensor    # [1, C, total] HiFi-GAN's input for every latent so far (its own memory)
    first: int              # the first frame vocoded (left context included)
    start: int              # the piece's first sample in the whole clip (what was handed out before)
    end: int                # the sample after the piece
    held_end: int           # the samples [end, held_end) are held back for the next piece's cross-fade
    is_end: bool


class StreamWindows:
    """Feed it (tokens so far, their latents, whether the decode ended); it hands back the next
    piece of audio once a chunk's worth of new latents (``first`` for the first piece, then
    ``every``) has come, or at the end.

    ``feed`` is ``render(plan(...))``. The two halves may run on two threads, ``plan`` where the
    latents are (the device worker) and ``render`` elsewhere (the vocoder lane), as long as the
    windows are rendered in the order they were planned: ``plan`` keeps what was handed out,
    ``render`` the overlap held back for the next piece."""

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
        self.emitted, self.done = 0, 0  # samples planned for handing out; latents they cover
        self.held = None  # the overlap held back by the last render

    def feed(self, n: int, latents: torch.Tensor, is_end: bool) -> torch.Tensor | None:
        """``latents`` ``[>= n, D]`` holds at least ``n`` rows; returns the next piece, float32 ``[samples]``
        at 24 kHz, or None (not yet, or nothing new)."""
        window = self.plan(n, latents, is_end)
        return self.render(window) if window is not None else None

    def plan(self, n: int, latents: torch.Tensor, is_end: bool) -> Window | None:
        """The next piece's window, or None (not yet, or nothing new). Cheap: the frames are the
        latents interpolated (new memory: ``latents`` may be reused once this returns)."""
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
        window = Window(frames=frames, first=max(0, self.emitted // hop - self.context), start=self.emitted,
                        end=end, held_end=stable * hop, is_end=is_end)
        self.emitted = end
        self.done = n
        return window

    def render(self, window: Window) -> torch.Tensor | None:
        """HiFi-GAN over ``window``: the piece, float32 ``[samples]`` at 24 kHz, cross-faded with the
        overlap the last render held back, or None when it is empty."""
        # cuDNN here: a stream's windows come in a few lengths (context + one chunk; the last
        # differs), so their per-shape plans are built once and reused, and cuDNN's kernels
        # are about 4x faster than PyTorch's own on HiFi-GAN (bench/serving/cold_probe.py).
        self.speaker = self.speaker.to(self.acc.device)
        audio = self.decoder.waveform_decoder(window.frames[..., window.first:], g=self.speaker).reshape(-1)
        offset = window.first * self.hop  # where the window starts in the whole clip
        piece = audio[window.start - offset: window.end - offset].clone()
        if self.held is not None and piece.shape[0]:
            k = min(self.held.shape[0], piece.shape[0])
            ramp = torch.linspace(0.0, 1.0, k, device=piece.device)
            piece[:k] = self.held[:k] * (1 - ramp) + piece[:k] * ramp
        self.held = None if window.is_end else audio[window.end - offset: window.held_end - offset].clone()
        return piece if piece.shape[0] else None
