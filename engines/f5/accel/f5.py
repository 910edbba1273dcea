"""F5Accelerator: upstream F5-TTS inference, same function, fewer launches per step.

``render`` computes, for each text chunk of each request, what
``f5_tts.infer.utils_infer.infer_batch_process`` computes for it: the same duration rule
(or its ``fix_duration`` allocation when a target length is asked for), the same
target-RMS handling, the same Euler ODE with sway sampling over the same time grid, the
same classifier-free guidance, the same Vocos decode. What changes is how (``f5_step.py``):
fp32 ODE state with a half DiT, per-request constants hoisted out of the steps, and the
chunks of *several requests* in one padded, masked forward.

Shapes are bucketed: a forward's length is padded up to one of ``length_buckets`` and its
batch up to one of ``batch_sizes`` (padding is masked, so results do not change). So a
finite set of shapes covers every request, and on CUDA each is captured as a graph
ahead of time (``f5_warmup.py``), never while serving. A shape without a graph yet runs
eagerly. Noise comes from each request's own generator, drawn outside any graph, so a
seed gives the same audio whatever else is in the batch.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from .f5_block import StepKernels, check_kernels
from .f5_groups import group_rows, padded_shape
from .f5_rows import F5Request, F5Row, Reference, group_progress, padded_inputs, tick
from .f5_step import CFGEulerStep
from .f5_upstream import HOP_LENGTH, SAMPLE_RATE, natural_frames, spaced_ref_text, upstream_time_grid
from ...gpu.graphs import GraphCapturer, StaticBuffers, variable_length_convs

logger = logging.getLogger(__name__)

TARGET_RMS = 0.1
MAX_DURATION = 65536


@dataclass(frozen=True)
class F5AccelOptions:
    """How the accelerator runs; every field has a CPU-safe meaning.

    ``length_buckets``: forward lengths in frames (reference + generated); longer rows run
    eagerly at a multiple of 256. Steps of 128 frames up to 2048: upstream's chunking fills a
    long text's chunks up to about 22 s with the reference (at most 2,063 frames; most land
    between 1,400 and 2,048), and 256-frame steps there padded them by up to 14%.
    ``batch_sizes``: rows per forward (with CFG the DiT batch is twice this); the last is the
    largest batch.
    """

    use_graphs: bool = True
    compile: bool = False
    kernels: StepKernels = StepKernels()  # how the DiT block's memory-bound parts run (f5_block.py)
    # "step": the whole guided step compiled (fastest); "block": one compiled DiT block reused 22x.
    compile_scope: str = "step"
    attn_backend: str | None = None  # e.g. "cudnn": force an SDPA backend (None: PyTorch's choice)
    vocoder_half: bool = True
    length_buckets: tuple[int, ...] = (256, 384, 512, 640, 768, 896, 1024, 1152, 1280, 1408, 1536, 1664, 1792, 1920,
                                       2048, 2560, 3072)
    batch_sizes: tuple[int, ...] = (1, 2, 3, 4, 6, 8)

    @property
    def max_rows(self) -> int:
        return self.batch_sizes[-1]


# The buckets before upstream's chunking rule was followed (benchmarks compare old and new).
PREVIOUS_LENGTH_BUCKETS = (256, 384, 512, 640, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2560, 3072)




def _copy_in_dtype(dit: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of the DiT in ``dtype``, the model's own left as it is.

    Upstream's DiT keeps its text-embedding cache in a thread-local, made by its first
    sampling, which ``deepcopy`` cannot copy: the copy gets a fresh, empty one.
    """
    cache = dit.__dict__.get("_cache_local")
    memo = {} if cache is None else {id(cache): threading.local()}
    return copy.deepcopy(dit, memo).to(dtype)


class F5Accelerator:
    """Fast F5-TTS sampling on an already-loaded upstream ``CFM`` model and Vocos vocoder.

    Not thread-safe: the device worker is its only caller (tests on CPU call it directly).
    The upstream model object is left usable by upstream code: if ``dtype`` differs from
    the model's own, the DiT is copied in that dtype instead of cast in place.
    """

    def __init__(self, model, vocoder, device, dtype: torch.dtype | None = None, compile: bool = False,
                 options: F5AccelOptions | None = None):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        opts = options or F5AccelOptions()
        if not self.cuda:  # graphs and half vocoders are CUDA-only; compile is not worth it on CPU
            opts = replace(opts, use_graphs=False, compile=False, vocoder_half=False)
        elif compile:
            opts = replace(opts, compile=True)
        self.options = opts
        self.model = model
        self.vocoder = vocoder
        model_dtype = next(model.parameters()).dtype
        self.noise_dtype = model_dtype  # upstream draws y0 in the model's dtype; we draw the same values
        self.dtype = dtype or (model_dtype if self.cuda else torch.float32)
        dit = model.transformer
        if next(dit.parameters()).dtype != self.dtype:
            dit = _copy_in_dtype(dit, self.dtype)
        dit.eval()
        self.step = CFGEulerStep(dit, self.dtype, opts.kernels).to(self.device)
        self.kernel_check: dict = {}
        if self.cuda and not self.step.kernels.is_reference:  # a switch this device runs wrongly goes back
            try:
                kept, self.kernel_check = check_kernels(self.step, self.step.kernels)
            except Exception as exc:  # even the reference block failed the check: serve it as upstream writes it
                logger.warning("F5 kernel check failed", exc_info=exc)
                kept, self.kernel_check = StepKernels.reference(), {"error": f"{type(exc).__name__}: {exc}"[:300]}
            self.step.use_kernels(kept)
        self.forward = self.step  # replaced by the compiled step once it is compiled (f5_warmup.py)
        self.capturer = GraphCapturer()
        self.graphs: dict[tuple[int, int, bool], torch.cuda.CUDAGraph] = {}
        self._static = StaticBuffers(self.step, model.num_channels, self.dtype, self.device, opts.max_rows,
                                     max(opts.length_buckets))
        self._refs: dict[str, Reference] = {}
        self._refs_lock = threading.Lock()
        self.num_channels = model.num_channels
        logger.info("F5Accelerator ready", extra={"device": str(self.device), "dtype": str(self.dtype),
                                                  "graphs": opts.use_graphs, "compile": opts.compile,
                                                  "kernels": self.step.kernels.changes()})

    # ---- public ------------------------------------------------------------------
    @torch.inference_mode()
    def infer(self, ref_audio: torch.Tensor, ref_text: str, gen_texts: list[str], *, nfe_step: int = 32,
              cfg_strength: float = 2.0, sway_sampling_coef: float | None = -1.0, speed: float = 1.0,
              seed: int | None = None, target_rms: float = TARGET_RMS) -> list[np.ndarray]:
        """Upstream's per-chunk output: one float32 ``[samples_i]`` 24 kHz waveform per text in ``gen_texts``.

        ``ref_audio``: the reference clip at 24 kHz, ``[samples]`` or ``[channels, samples]`` (mixed to mono).
        """
        request = self.prepare(ref_audio, ref_text, gen_texts, speed=speed, seed=seed, target_rms=target_rms)
        return self.render([request], nfe_step=nfe_step, cfg_strength=cfg_strength,
                           sway_sampling_coef=sway_sampling_coef)[0]

    @torch.inference_mode()
    def sample_mels(self, ref_audio, ref_text, gen_texts, *, nfe_step=32, cfg_strength=2.0,
                    sway_sampling_coef=-1.0, speed=1.0, seed=None, target_rms=TARGET_RMS):
        """(mels, reference): one generated mel ``[frames_i, mel]`` float32 per chunk (upstream's
        ``generated[:, ref_len:]``; mel = 100), and the reference they continue."""
        if not gen_texts:
            return [], None
        request = self.prepare(ref_audio, ref_text, gen_texts, speed=speed, seed=seed, target_rms=target_rms)
        mels = self.sample([request], nfe_step=nfe_step, cfg_strength=cfg_strength,
                           sway_sampling_coef=sway_sampling_coef)[0]
        return mels, request.ref

    @torch.inference_mode()
    def prepare(self, ref_audio: torch.Tensor, ref_text: str, gen_texts: list[str], *, speed: float = 1.0,
                seed: int | None = None, target_rms: float = TARGET_RMS,
                fixed_seconds: list[float] | None = None) -> F5Request:
        """The request's rows: tokens ``[1, nt]`` long (-1 padded), durations in frames (reference included;
        ``fixed_seconds``: upstream's ``fix_duration`` per chunk) and noise ``[duration, mel]`` float32
        from its own generator seeded with ``seed``. ``ref_audio``: ``[samples]`` or ``[channels, samples]``
        at 24 kHz."""
        if not ref_text:
            raise ValueError("ref_text is empty: F5-TTS needs the reference transcript")
        ref = self.reference(ref_audio, target_rms)
        ref_text = spaced_ref_text(ref_text)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, ()).item()))
        request = F5Request(ref=ref)
        for index, text in enumerate(gen_texts):
            fixed = fixed_seconds[index] if fixed_seconds is not None else None
            tokens, duration = self._tokens_and_duration(ref, ref_text, text, speed, fixed)
            noise = torch.randn(duration, self.num_channels, device=self.device, dtype=self.noise_dtype,
                                generator=generator).float()
            request.rows.append(F5Row(ref=ref, tokens=tokens, duration=duration, noise=noise))
        return request

    @torch.inference_mode()
    def sample(self, requests: list[F5Request], *, nfe_step: int = 32, cfg_strength: float = 2.0,
               sway_sampling_coef: float | None = -1.0,
               progress: Callable[[float], None] | None = None) -> list[list[torch.Tensor]]:
        """Mels per request per chunk, float32 ``[frames_i, mel]`` (the generated part: a row's duration less
        its reference's frames); rows of all requests share forwards, grouped by length (``f5_groups``).

        ``progress(fraction)`` is called as the ODE steps of all forwards advance.
        """
        grid = upstream_time_grid(nfe_step, sway_sampling_coef, self.device)
        rows = [(r, i) for r, request in enumerate(requests) for i in range(len(request.rows))]
        durations = [requests[r].rows[i].duration for r, i in rows]
        out: list[list[torch.Tensor | None]] = [[None] * len(request.rows) for request in requests]
        groups = group_rows(durations, self.options.max_rows, self.bucket)
        for g, members in enumerate(groups):
            group = [rows[k] for k in members]
            on_step = group_progress(progress, g, len(groups))
            mels = self._sample_group([requests[r].rows[i] for r, i in group], grid, cfg_strength, on_step)
            for (r, i), mel in zip(group, mels):
                out[r][i] = mel
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def render(self, requests: list[F5Request], *, nfe_step: int = 32, cfg_strength: float = 2.0,
               sway_sampling_coef: float | None = -1.0, target_rms: float = TARGET_RMS,
               progress: Callable[[float], None] | None = None,
               between: Callable[[], None] | None = None) -> list[list[np.ndarray]]:
        """Waveforms per request per chunk: float32 ``[frames_i * 256]`` at 24 kHz (Vocos' hop).
        ``between`` is called before each chunk's vocoding (the device is free for other work there)."""
        mels = self.sample(requests, nfe_step=nfe_step, cfg_strength=cfg_strength,
                           sway_sampling_coef=sway_sampling_coef, progress=progress)
        waves = []
        for request, request_mels in zip(requests, mels):
            out = []
            for mel in request_mels:
                if between is not None:
                    between()
                wave = self._vocode(mel.permute(1, 0).unsqueeze(0))
                if request.ref.rms < target_rms:
                    wave = wave * request.ref.rms / target_rms
                out.append(wave.squeeze().float().cpu().numpy())
            waves.append(out)
        return waves

    # ---- shapes --------------------------------------------------------------------
    def bucket(self, rows: int, frames: int) -> tuple[int, int]:
        """(batch, length) of the forward that takes ``rows`` rows of at most ``frames`` frames."""
        return padded_shape(self.options.batch_sizes, self.options.length_buckets, rows, frames)

    def shapes(self) -> list[tuple[int, int]]:
        """Every bucketed (batch, length), small first: what warm-up captures."""
        return [(b, n) for n in self.options.length_buckets for b in self.options.batch_sizes]

    # ---- reference and chunks --------------------------------------------------------
    def reference(self, audio: torch.Tensor, target_rms: float = TARGET_RMS) -> Reference:
        """The reference's mel ``cond`` ``[ref_frames, mel]`` on the device, from ``audio`` ``[samples]`` or
        ``[channels, samples]`` at 24 kHz (made louder to ``target_rms`` when quieter); cached by content."""
        audio = audio.detach().float().cpu()
        if audio.ndim == 1:
            audio = audio.unsqueeze(0)
        if audio.shape[0] > 1:
            audio = audio.mean(dim=0, keepdim=True)
        key = hashlib.blake2b(audio.numpy().tobytes(), digest_size=16).hexdigest() + f"/{target_rms}"
        with self._refs_lock:
            cached = self._refs.get(key)
        if cached is not None:
            return cached
        rms = float(torch.sqrt(torch.mean(torch.square(audio))))
        if rms < target_rms:
            audio = audio * target_rms / rms
        audio = audio.to(self.device)
        mel = self.model.mel_spec(audio).permute(0, 2, 1)[0].float()
        ref = Reference(cond=mel, rms=rms, ref_audio_len=audio.shape[-1] // HOP_LENGTH)
        with self._refs_lock:
            if len(self._refs) >= 32:
                self._refs.pop(next(iter(self._refs)))
            self._refs[key] = ref
        return ref

    def _tokens_and_duration(self, ref: Reference, ref_text: str, gen_text: str, speed: float,
                             fixed_seconds: float | None) -> tuple[torch.Tensor, int]:
        from f5_tts.model.utils import convert_char_to_pinyin, list_str_to_idx

        tokens = list_str_to_idx(convert_char_to_pinyin([ref_text + gen_text]), self.model.vocab_char_map)
        ref_len = ref.ref_audio_len
        if fixed_seconds is not None:
            duration = int(fixed_seconds * SAMPLE_RATE / HOP_LENGTH)
        else:
            duration = ref_len + natural_frames(ref_len, ref_text, gen_text, speed)
        n_text = int((tokens != -1).sum())
        duration = min(max(max(n_text, ref.cond.shape[0]) + 1, duration), MAX_DURATION)
        return tokens.to(self.device), duration

    # ---- sampling --------------------------------------------------------------------
    def _sample_group(self, rows: list[F5Row], grid: torch.Tensor, cfg_strength: float,
                      on_step: Callable[[int, int], None] | None = None) -> list[torch.Tensor]:
        use_cfg = cfg_strength >= 1e-5
        b, n = self.bucket(len(rows), max(row.duration for row in rows))
        static_in, mask, y0 = padded_inputs(self.step, rows, b, n, use_cfg)
        graph = self.graphs.get((b, n, use_cfg))
        if graph is not None:
            bufs = self.static_views(b, n, use_cfg)
            bufs["static_in"].copy_(static_in)
            bufs["mask"].copy_(mask)
            bufs["attn_mask"].copy_(mask[:, None, None, :])
            bufs["cfg"].fill_(cfg_strength)
            bufs["y"].copy_(y0)
            steps = grid.shape[0] - 1
            for i in range(steps):
                bufs["t"].copy_(grid[i])
                bufs["dt"].copy_(grid[i + 1] - grid[i])
                graph.replay()
                tick(on_step, i, steps)
            y = bufs["y"]
        else:
            cos, sin = self.step.rope(n, self.device)
            bufs = {"y": y0, "static_in": static_in, "mask": mask, "attn_mask": mask[:, None, None, :],
                    "cfg": torch.tensor(float(cfg_strength), device=self.device), "cos": cos, "sin": sin}
            steps = grid.shape[0] - 1
            for i in range(steps):
                bufs["t"], bufs["dt"] = grid[i], grid[i + 1] - grid[i]
                self.euler(bufs)
                tick(on_step, i, steps)
            y = bufs["y"]
        y = y.view(b, n, self.num_channels)
        results = []
        for i, row in enumerate(rows):
            out = y[i, : row.duration].clone()
            out[: row.ref.cond.shape[0]] = row.ref.cond  # upstream: torch.where(cond_mask, cond, out)
            results.append(out[row.ref.ref_audio_len:])
        return results

    def euler(self, bufs: dict) -> None:
        """One Euler step in place on ``bufs["y"]`` (what a captured graph replays).

        For a forward of ``b`` rows of ``n`` frames, with ``R`` = 2b under guidance (conditional rows,
        then unconditional) else b: ``y`` ``[b*n, mel]`` float32; ``t``, ``dt``, ``cfg`` scalars;
        ``static_in`` ``[R, n, dim]``; ``mask`` ``[R, n]`` bool (False: padding); ``attn_mask``
        ``[R, 1, 1, n]``; ``cos``, ``sin`` ``[n, head_dim]`` float32.
        """
        backend = self.options.attn_backend
        with sdpa_kernel([getattr(SDPBackend, backend.upper() + "_ATTENTION")]) if backend else nullcontext():
            v = self.forward(bufs["y"], bufs["t"], bufs["cfg"], bufs["static_in"], bufs["mask"], bufs["attn_mask"],
                             bufs["cos"], bufs["sin"])
        bufs["y"].add_(v * bufs["dt"])

    # ---- graphs ------------------------------------------------------------------------
    def static_views(self, b: int, n: int, use_cfg: bool) -> dict[str, torch.Tensor]:
        """The graph's input buffers for forwards of shape (``b``, ``n``), as ``euler`` takes them."""
        return self._static.views(b, n, use_cfg)

    @torch.inference_mode()
    def capture(self, b: int, n: int, use_cfg: bool = True) -> None:
        """Capture the step for one shape (on the device worker, with nothing else running)."""
        bufs = self._static.views(b, n, use_cfg, fill=True)
        self.graphs[(b, n, use_cfg)] = self.capturer.capture(lambda: self.euler(bufs), label=f"f5 {b}x{n}")

    def drop_graphs(self) -> None:
        """Forget every graph; later captures go to a new memory pool (never one left without graphs)."""
        self.graphs.clear()
        self.capturer.new_pool()

    # ---- vocoder ---------------------------------------------------------------------
    def _vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """Vocos decode; on CUDA the ConvNeXt backbone may run in half, the ISTFT head in fp32.

        The mel's length is the request's own, so its convolutions run without cuDNN."""
        with variable_length_convs(self.device):
            if not self.options.vocoder_half:
                return self.vocoder.decode(mel)
            with torch.autocast("cuda", dtype=self.dtype):
                x = self.vocoder.backbone(mel)
        return self.vocoder.head(x.float())
