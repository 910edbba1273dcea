"""F5Accelerator: upstream F5-TTS inference, same function, fewer launches per step.

``infer`` computes, for each text chunk, what ``f5_tts.infer.utils_infer.infer_batch_process``
computes for it: the same duration rule, the same target-RMS handling, the same Euler ODE
with sway sampling over the same time grid, the same classifier-free guidance, the same
Vocos decode. What changes is how (see ``f5_step.py``): fp32 ODE state with a half DiT,
all chunks in one padded forward, per-request constants hoisted out of the 32 steps, and
on CUDA the step replayed as a CUDA graph (optionally compiled with ``torch.compile``).

Reference mels are cached per reference clip (content hash), so a voice used twice pays
its STFT once. The text embedding cannot be cached per voice: upstream embeds reference
transcript and new text jointly (its ConvNeXt mixes neighbouring characters), so it is
computed once per request and reused by all steps.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .f5_step import CFGEulerStep, pad_rows, text_embeddings
from .graphs import GraphCapturer

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24000
HOP_LENGTH = 256
TARGET_RMS = 0.1
MAX_DURATION = 65536


@dataclass(frozen=True)
class F5AccelOptions:
    """How the accelerator runs; every field has a CPU-safe meaning.

    ``pad_multiple``: batched chunks are padded to a multiple of this many frames so a
    captured graph serves nearby lengths (padding is masked, so results do not change).
    ``max_batch``: chunks per forward (with CFG the DiT batch is twice this).
    """

    use_graphs: bool = True
    compile: bool = False
    # "step": the whole guided step compiled (fastest; ~110 s warm-up on an H100);
    # "block": one compiled DiT block reused 22x (~26 s warm-up, ~25% slower steps).
    compile_scope: str = "step"
    attn_backend: str | None = None  # e.g. "cudnn": force an SDPA backend (None: PyTorch's choice)
    vocoder_half: bool = True
    pad_multiple: int = 64
    max_batch: int = 8
    max_graphs: int = 8


@dataclass
class _Reference:
    cond: torch.Tensor          # [n_mel_frames, mel] float32 on device
    rms: float
    ref_audio_len: int          # audio samples // hop (upstream's slicing point)


@dataclass
class _Chunk:
    tokens: torch.Tensor        # [1, nt] long, -1 padded (upstream list_str_to_idx)
    duration: int


@dataclass
class _Slot:
    """Static buffers of one captured step (one per (batch, length, mask) shape)."""

    buffers: dict = field(default_factory=dict)
    graph: object | None = None


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


class F5Accelerator:
    """Fast F5-TTS sampling on an already-loaded upstream ``CFM`` model and Vocos vocoder.

    The upstream model object is left usable by upstream code: if ``dtype`` differs from
    the model's own, the DiT is copied in that dtype instead of cast in place.
    """

    def __init__(self, model, vocoder, device, dtype: torch.dtype | None = None, compile: bool = False,
                 options: F5AccelOptions | None = None):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        opts = options or F5AccelOptions()
        if not self.cuda:  # graphs and half vocoders are CUDA-only; compile is not worth it on CPU
            opts = F5AccelOptions(use_graphs=False, compile=False, vocoder_half=False,
                                  pad_multiple=1, max_batch=opts.max_batch)
        elif compile:
            opts = F5AccelOptions(**{**opts.__dict__, "compile": True})
        self.options = opts
        self.model = model
        self.vocoder = vocoder
        model_dtype = next(model.parameters()).dtype
        self.noise_dtype = model_dtype  # upstream draws y0 in the model's dtype; we draw the same values
        self.dtype = dtype or (model_dtype if self.cuda else torch.float32)
        dit = model.transformer
        if next(dit.parameters()).dtype != self.dtype:
            dit = copy.deepcopy(dit).to(self.dtype)
        dit.eval()
        self.step = CFGEulerStep(dit, self.dtype).to(self.device)
        self._forward = self.step
        if opts.compile and opts.compile_scope == "step":
            self._forward = torch.compile(self.step, dynamic=True)
        elif opts.compile:
            from .f5_step import dit_block

            self.step.block_fn = torch.compile(dit_block, dynamic=True)
        self._graphs = GraphCapturer()
        self._slots: dict[tuple, _Slot] = {}
        self._refs: dict[str, _Reference] = {}
        self._lock = threading.RLock()  # one request at a time: the step buffers and graphs are shared
        self.num_channels = model.num_channels
        logger.info("F5Accelerator ready", extra={"device": str(self.device), "dtype": str(self.dtype),
                                                  "graphs": opts.use_graphs, "compile": opts.compile})

    # ---- public ------------------------------------------------------------------
    def warmup(self) -> float:
        """Compile and capture the common shapes (one chunk; two chunks). Returns seconds."""
        start = time.perf_counter()
        ref = torch.sin(torch.linspace(0, 2000, SAMPLE_RATE * 3)).unsqueeze(0) * 0.1
        ref_text = "This is a short warm up reference. "
        self.infer(ref, ref_text, ["Warm up sentence number one."], seed=0)
        self.infer(ref, ref_text, ["Warm up sentence number one.", "And a second, slightly longer one here."], seed=0)
        self._sync()
        seconds = time.perf_counter() - start
        logger.info("F5Accelerator warm-up done", extra={"seconds": round(seconds, 2)})
        return seconds

    @torch.inference_mode()
    def infer(self, ref_audio: torch.Tensor, ref_text: str, gen_texts: list[str], *, nfe_step: int = 32,
              cfg_strength: float = 2.0, sway_sampling_coef: float | None = -1.0, speed: float = 1.0,
              seed: int | None = None, target_rms: float = TARGET_RMS) -> list[np.ndarray]:
        """One float32 24 kHz waveform per text in ``gen_texts`` (upstream's per-chunk output)."""
        mels, ref = self.sample_mels(ref_audio, ref_text, gen_texts, nfe_step=nfe_step, cfg_strength=cfg_strength,
                                     sway_sampling_coef=sway_sampling_coef, speed=speed, seed=seed,
                                     target_rms=target_rms)
        waves = []
        for mel in mels:
            wave = self._vocode(mel.permute(1, 0).unsqueeze(0))
            if ref.rms < target_rms:
                wave = wave * ref.rms / target_rms
            waves.append(wave.squeeze().float().cpu().numpy())
        return waves

    @torch.inference_mode()
    def sample_mels(self, ref_audio, ref_text, gen_texts, *, nfe_step=32, cfg_strength=2.0,
                    sway_sampling_coef=-1.0, speed=1.0, seed=None, target_rms=TARGET_RMS):
        """Generated mels [frames, mel] float32 per chunk (upstream's ``generated[:, ref_len:]``)."""
        if not gen_texts:
            return [], None
        if not ref_text:
            raise ValueError("ref_text is empty: F5-TTS needs the reference transcript")
        with self._lock:
            return self._sample_mels(ref_audio, ref_text, gen_texts, nfe_step, cfg_strength, sway_sampling_coef,
                                     speed, seed, target_rms)

    def _sample_mels(self, ref_audio, ref_text, gen_texts, nfe_step, cfg_strength, sway_sampling_coef, speed,
                     seed, target_rms):
        ref = self._reference(ref_audio, target_rms)
        if len(ref_text[-1].encode("utf-8")) == 1:
            ref_text = ref_text + " "
        chunks = [self._chunk(ref, ref_text, g, speed) for g in gen_texts]
        if seed is not None:
            torch.manual_seed(seed)
        noise = [torch.randn(c.duration, self.num_channels, device=self.device, dtype=self.noise_dtype).float()
                 for c in chunks]
        grid = upstream_time_grid(nfe_step, sway_sampling_coef, self.device)
        out: list[torch.Tensor] = []
        mb = self.options.max_batch
        for start in range(0, len(chunks), mb):
            group = list(range(start, min(start + mb, len(chunks))))
            out.extend(self._sample_group(ref, [chunks[i] for i in group], [noise[i] for i in group],
                                          grid, cfg_strength))
        return out, ref

    # ---- reference and chunks --------------------------------------------------------
    def _reference(self, audio: torch.Tensor, target_rms: float) -> _Reference:
        audio = audio.detach().float().cpu()
        if audio.ndim == 1:
            audio = audio.unsqueeze(0)
        if audio.shape[0] > 1:
            audio = audio.mean(dim=0, keepdim=True)
        key = hashlib.blake2b(audio.numpy().tobytes(), digest_size=16).hexdigest() + f"/{target_rms}"
        cached = self._refs.get(key)
        if cached is not None:
            return cached
        rms = float(torch.sqrt(torch.mean(torch.square(audio))))
        if rms < target_rms:
            audio = audio * target_rms / rms
        audio = audio.to(self.device)
        mel = self.model.mel_spec(audio).permute(0, 2, 1)[0].float()
        ref = _Reference(cond=mel, rms=rms, ref_audio_len=audio.shape[-1] // HOP_LENGTH)
        if len(self._refs) >= 16:
            self._refs.pop(next(iter(self._refs)))
        self._refs[key] = ref
        return ref

    def _chunk(self, ref: _Reference, ref_text: str, gen_text: str, speed: float) -> _Chunk:
        from f5_tts.model.utils import convert_char_to_pinyin, list_str_to_idx

        local_speed = 0.3 if len(gen_text.encode("utf-8")) < 10 else speed
        tokens = list_str_to_idx(convert_char_to_pinyin([ref_text + gen_text]), self.model.vocab_char_map)
        ref_len = ref.ref_audio_len
        duration = ref_len + int(ref_len / len(ref_text.encode("utf-8")) * len(gen_text.encode("utf-8")) / local_speed)
        n_text = int((tokens != -1).sum())
        duration = min(max(max(n_text, ref.cond.shape[0]) + 1, duration), MAX_DURATION)
        return _Chunk(tokens=tokens.to(self.device), duration=duration)

    # ---- sampling --------------------------------------------------------------------
    def _sample_group(self, ref: _Reference, chunks: list[_Chunk], noise: list[torch.Tensor],
                      grid: torch.Tensor, cfg_strength: float) -> list[torch.Tensor]:
        b = len(chunks)
        durations = [c.duration for c in chunks]
        if b == 1:  # upstream's own shape: exact length, no mask
            n, padded = durations[0], False
        else:
            m = self.options.pad_multiple
            n, padded = -(-max(durations) // m) * m, True
        use_cfg = cfg_strength >= 1e-5
        dit = self.step.dit
        n_ref = ref.cond.shape[0]
        cond = pad_rows([ref.cond] * b, n)
        text_c = pad_rows([text_embeddings(dit, c.tokens, c.duration, False) for c in chunks], n)
        text_u = pad_rows([text_embeddings(dit, c.tokens, c.duration, True) for c in chunks], n) if use_cfg else None
        static_in = self.step.static_input(cond, text_c, text_u)
        mask = None
        if padded:
            valid = torch.arange(n, device=self.device)[None, :] < torch.tensor(durations, device=self.device)[:, None]
            mask = torch.cat((valid, valid), dim=0) if use_cfg else valid
        y0 = pad_rows(noise, n)
        key = (b, n, padded, use_cfg)
        slot = self._slot(key, static_in, mask)
        bufs = slot.buffers
        bufs["static_in"].copy_(static_in)
        if mask is not None:
            bufs["mask"].copy_(mask)
            bufs["attn_mask"].copy_(mask[:, None, None, :])
        bufs["cfg"].fill_(cfg_strength)
        bufs["y"].copy_(y0)
        if self.options.use_graphs and slot.graph is None:
            slot.graph = self._capture(key, bufs)
            bufs["y"].copy_(y0)  # the capture's warm-up ran steps on it
        for i in range(grid.shape[0] - 1):
            bufs["t"].copy_(grid[i])
            bufs["dt"].copy_(grid[i + 1] - grid[i])
            if slot.graph is not None:
                slot.graph.replay()
            else:
                self._euler(bufs)
        y = bufs["y"]
        results = []
        for i, c in enumerate(chunks):
            out = y[i, : c.duration].clone()
            out[:n_ref] = ref.cond  # upstream: torch.where(cond_mask, cond, out)
            results.append(out[ref.ref_audio_len :])
        return results

    def _capture(self, key: tuple, bufs: dict):
        """Capture the step; if the compiled step cannot be captured, fall back to eager (and say so)."""
        try:
            return self._graphs.capture(lambda: self._euler(bufs), label=str(key))
        except Exception as exc:  # noqa: BLE001 - logged, and the slower path is taken explicitly
            if not self.options.compile:
                raise
            logger.warning("compiled F5 step failed; using the eager step under CUDA graphs",
                           extra={"error": f"{type(exc).__name__}: {exc}", "shape": str(key)})
            from .f5_step import dit_block

            self._forward = self.step
            self.step.block_fn = dit_block
            self.options = F5AccelOptions(**{**self.options.__dict__, "compile": False})
            return self._graphs.capture(lambda: self._euler(bufs), label=str(key))

    def _euler(self, bufs: dict) -> None:
        if self.options.attn_backend:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel([getattr(SDPBackend, self.options.attn_backend.upper() + "_ATTENTION")]):
                return self._euler_step(bufs)
        return self._euler_step(bufs)

    def _euler_step(self, bufs: dict) -> None:
        v = self._forward(bufs["y"], bufs["t"], bufs["cfg"], bufs["static_in"], bufs["mask"], bufs["attn_mask"],
                          bufs["cos"], bufs["sin"])
        bufs["y"].add_(v * bufs["dt"])

    def _slot(self, key: tuple, static_in: torch.Tensor, mask: torch.Tensor | None) -> _Slot:
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        b, n, padded, _ = key
        cos, sin = self.step.rope(n, self.device)
        bufs = {
            "y": torch.zeros(b, n, self.num_channels, device=self.device),
            "t": torch.zeros((), device=self.device),
            "dt": torch.zeros((), device=self.device),
            "cfg": torch.zeros((), device=self.device),
            "static_in": torch.empty_like(static_in),
            "mask": torch.empty_like(mask) if mask is not None else None,
            "attn_mask": torch.empty(mask.shape[0], 1, 1, n, dtype=torch.bool, device=self.device)
            if mask is not None else None,
            "cos": cos,
            "sin": sin,
        }
        slot = _Slot(buffers=bufs)
        if len(self._slots) >= self.options.max_graphs:
            self._slots.pop(next(iter(self._slots)))
        self._slots[key] = slot
        return slot

    # ---- vocoder ---------------------------------------------------------------------
    def _vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """Vocos decode; on CUDA the ConvNeXt backbone may run in half, the ISTFT head in fp32."""
        if not self.options.vocoder_half:
            return self.vocoder.decode(mel)
        with torch.autocast("cuda", dtype=self.dtype):
            x = self.vocoder.backbone(mel)
        return self.vocoder.head(x.float())

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
