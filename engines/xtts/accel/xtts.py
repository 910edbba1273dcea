"""XttsAccelerator: ``Xtts.inference`` / ``inference_stream`` with a static-cache decoder.

Same function as upstream: the same text normalisation and tokens, the same prompt
(conditioning latents, text with start/stop tokens, the start audio token), the same
logits processing (``xtts_sampling.py``), the same latents (the GPT's hidden states at
[start, c1 .. c_{n-1}], which upstream recomputes with a second full forward and we keep
from decoding: causal attention makes them the same numbers), the same ``speed``
interpolation and the same HiFi-GAN call in float32.

Decoding (``xtts_decode.py``) runs the GPT from packed half-precision weights with a
preallocated KV cache; on CUDA one decode step, sampling included, is a CUDA graph (one
for sampling with any parameters, one for greedy decoding, both captured by
``capture_graphs`` ahead of serving) and the host checks for the stop token only every
``sync_every`` tokens. A request's random draws come from its own generator (``seed``).

Streaming vocodes only the newest frames with some left context (``stream_context``)
instead of all latents so far, on the same frame grid as one call, so a whole stream costs
about what one call costs and joins into the same audio.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from ..xtts_text import prepare_text
from ...gpu.graphs import GraphCapturer, attention_without_cudnn, variable_length_convs
from ...gpu.thread_convs import thread_cudnn
from .xtts_attention import CacheAttention
from .xtts_decode import PackedGPT
from .xtts_sampling import SamplerState, SamplingParams, pick_next, record, request_generator
from .xtts_windows import StreamWindows

# HiFi-GAN's output samples per GPT latent: 1024 at 22.05 kHz, resampled to 24 kHz.
SAMPLES_PER_LATENT = 1024 * 24000 / 22050

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class XttsAccelOptions:
    use_graphs: bool = True
    sync_every: int = 8
    # Latents of left context when vocoding a stream's next chunk. HiFi-GAN's reach is about two
    # latents: with 2 the joined stream is the unstreamed audio to 1e-6, with 1 to 5e-5 (tests/accel/test_xtts_stream.py).
    stream_context: int = 4


@dataclass
class DecodeResult:
    codes: torch.Tensor     # [n] long, stop token included when generated
    latents: torch.Tensor   # [n, D] in the decoder dtype
    prefill_s: float
    decode_s: float

    @property
    def n_tokens(self) -> int:
        return int(self.codes.shape[0])


class XttsAccelerator:
    """Fast XTTS-v2 inference on an already-loaded ``TTS.tts.models.xtts.Xtts``.

    The upstream model is not modified (its GPT stays in its dtype for upstream code);
    the accelerator keeps its own packed copy of the GPT weights in ``dtype``.
    """

    def __init__(self, model, device, dtype: torch.dtype | None = None, options: XttsAccelOptions | None = None):
        self.model = model
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        opts = options or XttsAccelOptions()
        if not self.cuda:
            opts = XttsAccelOptions(use_graphs=False, sync_every=opts.sync_every,
                                    stream_context=opts.stream_context)
        self.options = opts
        self.dtype = dtype or (torch.float16 if self.cuda else torch.float32)
        gpt = model.gpt
        self.gpt = gpt
        self.packed = PackedGPT(gpt, self.dtype, self.device)
        self.stop_token = gpt.stop_audio_token
        self.start_token = gpt.start_audio_token
        self.max_gen = gpt.max_gen_mel_tokens
        prompt_max = 64 + gpt.max_text_tokens  # conditioning latents (32 with the perceiver) + text
        self.max_len = prompt_max + self.max_gen + opts.sync_every + 2
        self.cache = self.packed.new_cache(self.max_len, self.device)
        self.cache_attention = CacheAttention(self.device, self.dtype, self.max_len)
        vocab = gpt.mel_head.out_features
        self.state = SamplerState.create(vocab, self.max_gen + opts.sync_every + 1, self.device)
        self.tokens_buf = torch.zeros(self.max_gen + opts.sync_every + 1, dtype=torch.long, device=self.device)
        self.latents_buf = torch.zeros(self.max_gen + opts.sync_every + 1, gpt.model_dim, dtype=self.dtype,
                                       device=self.device)
        self.token = torch.zeros(1, dtype=torch.long, device=self.device)
        self.prefix_len = torch.zeros(1, dtype=torch.long, device=self.device)
        self._positions = torch.arange(self.max_len, device=self.device)
        self._capturer = GraphCapturer()
        self._graphs: dict[bool, torch.cuda.CUDAGraph] = {}
        self._lock = threading.RLock()  # one decode at a time: the KV cache and graph buffers are shared
        logger.info("XttsAccelerator ready", extra={"device": str(self.device), "dtype": str(self.dtype),
                                                    "graphs": opts.use_graphs, "cache_len": self.max_len,
                                                    "decode_attention": self.cache_attention.kernel})

    # ---- public ----------------------------------------------------------------------
    def warmup(self) -> float:
        """Capture the decode graphs and run a short decode of each kind. Returns seconds."""
        start = time.perf_counter()
        self.capture_graphs()
        cond = torch.zeros(1, 32, self.gpt.model_dim, device=self.device)
        tokens = torch.tensor([[self.gpt.start_text_token or 0, 1, 2]], device=self.device)
        for greedy in (False, True):
            self.decode(tokens, cond, SamplingParams(greedy=greedy), max_new_tokens=self.options.sync_every * 2,
                        seed=0)
        if self.cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        logger.info("XttsAccelerator warm-up done", extra={"seconds": round(seconds, 2)})
        return seconds

    def capture_graphs(self) -> None:
        """Capture the sampling and the greedy decode step (CUDA only; nothing else may run meanwhile)."""
        if not self.options.use_graphs:
            return
        with self._lock, torch.inference_mode():
            for greedy in (False, True):
                if greedy not in self._graphs:
                    snapshot = self._snapshot()
                    self._graphs[greedy] = self._capturer.capture(lambda g=greedy: self._decode_step(g),
                                                                  label=f"xtts greedy={greedy}")
                    self._restore(snapshot)  # capture warm-up decoded real steps; undo them

    def text_tokens(self, text: str, language: str) -> torch.Tensor:
        """Upstream's text handling in ``inference`` (no splitting): strip, lower, encode; numbers
        coqui cannot expand are read plainly first (``engines.xtts.xtts_text``). ``[1, nt]`` int32 on the device."""
        return self.text_ids(text, language).to(self.device)

    def text_ids(self, text: str, language: str) -> torch.Tensor:
        """``text_tokens`` on the CPU, ``[1, nt]`` int32 (no device work: any thread may call it)."""
        language = language.split("-")[0]
        sent = prepare_text(self.model.tokenizer, text, language).strip().lower()
        tokens = torch.IntTensor(self.model.tokenizer.encode(sent, lang=language)).unsqueeze(0)
        if tokens.shape[-1] >= self.model.args.gpt_max_text_tokens:
            raise ValueError(f"XTTS takes at most {self.model.args.gpt_max_text_tokens} text tokens per call; "
                             f"got {tokens.shape[-1]}: split the text first")
        return tokens

    @torch.inference_mode()
    def inference(self, text, language, gpt_cond_latent, speaker_embedding, *, temperature=0.75, top_p=0.85,
                  top_k=50, repetition_penalty=5.0, length_penalty=1.0, speed=1.0, max_new_tokens=None,
                  min_new_tokens=0, greedy=False, seed=None) -> dict:
        """Like ``Xtts.inference`` (one sentence, no splitting).

        ``gpt_cond_latent`` ``[1, c, D]`` (c = 32 with the perceiver resampler, D the GPT's width) and
        ``speaker_embedding`` ``[1, 512, 1]``, as ``get_conditioning_latents`` returns them. Returns
        ``wav`` float32 ``[samples]`` at 24 kHz, ``gpt_codes`` ``[n]`` long, ``gpt_latents`` ``[1, n, D]``
        float32, the speaker embedding and timings.
        """
        del length_penalty  # only used by beam search upstream; XTTS inference uses one beam
        tokens = self.text_tokens(text, language)
        params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p,
                                repetition_penalty=repetition_penalty, greedy=greedy)
        res = self.decode(tokens, gpt_cond_latent.to(self.device), params, max_new_tokens=max_new_tokens,
                          min_new_tokens=min_new_tokens, seed=seed)
        t0 = time.perf_counter()
        wav = self._vocode(res.latents, speaker_embedding, speed)
        return {
            "wav": wav.cpu().squeeze().numpy(),
            "gpt_codes": res.codes.cpu(),
            "gpt_latents": res.latents.float().cpu().numpy()[None],
            "speaker_embedding": speaker_embedding,
            "timings": {"prefill_s": res.prefill_s, "decode_s": res.decode_s,
                        "vocoder_s": time.perf_counter() - t0, "tokens": res.n_tokens},
        }

    @torch.inference_mode()
    def inference_stream(self, text, language, gpt_cond_latent, speaker_embedding, *, stream_chunk_size=20,
                         overlap_wav_len=1024, temperature=0.75, top_p=0.85, top_k=50, repetition_penalty=5.0,
                         length_penalty=1.0, speed=1.0, max_new_tokens=None, min_new_tokens=0,
                         greedy=False, seed=None, first_chunk_size=None) -> Iterator[torch.Tensor]:
        """Like ``Xtts.inference_stream``: a wav chunk, float32 ``[samples_i]`` at 24 kHz on the device,
        every ``stream_chunk_size`` tokens (the first after ``first_chunk_size``, when given: a shorter
        first chunk plays sooner). The latents as ``inference`` takes them.

        Only the newest latents are vocoded, on the frame grid of one whole call
        (``xtts_windows.StreamWindows``), so a whole stream costs about what one call costs.
        """
        del length_penalty
        tokens = self.text_tokens(text, language)
        params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p,
                                repetition_penalty=repetition_penalty, greedy=greedy)
        first_chunk = first_chunk_size or stream_chunk_size
        windows = StreamWindows(self, speaker_embedding, speed, first_chunk, stream_chunk_size,
                                self.options.stream_context, overlap_wav_len)
        with self._lock:  # held until the stream ends or the consumer closes the generator
            for n, latents, is_end in self._decode_iter(tokens, gpt_cond_latent.to(self.device), params,
                                                        max_new_tokens, min_new_tokens,
                                                        (first_chunk, stream_chunk_size), seed):
                piece = windows.feed(n, latents, is_end)
                if piece is not None:
                    yield piece

    # ---- decoding --------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, text_tokens, cond_latents, params: SamplingParams, max_new_tokens=None,
               min_new_tokens=0, seed=None) -> DecodeResult:
        """The GPT's audio tokens for ``text_tokens`` ``[1, nt]`` after ``cond_latents`` ``[1, c, D]``:
        codes ``[n]`` and the latents ``[n, D]`` HiFi-GAN takes (``DecodeResult``)."""
        with self._lock:
            t0 = time.perf_counter()
            result = None
            for n, _latents, is_end in self._decode_iter(text_tokens, cond_latents, params, max_new_tokens,
                                                         min_new_tokens, None, seed):
                if is_end:
                    result = n
            total = time.perf_counter() - t0
            return DecodeResult(codes=self.tokens_buf[:result].clone(), latents=self.latents_buf[:result].clone(),
                                prefill_s=self._prefill_s, decode_s=total)

    def _decode_iter(self, text_tokens, cond_latents, params, max_new_tokens, min_new_tokens, report_every,
                     seed=None):
        """Yields (n_tokens_so_far, latents[:n], is_end) after each host check; ``report_every``:
        (first, then every) token counts at which a check is also made, or None."""
        max_new = min(max_new_tokens or self.max_gen, self.max_gen)
        t0 = time.perf_counter()
        generator = request_generator(params, seed, self.device)
        self._prefill(text_tokens, cond_latents, params, min_new_tokens, generator)
        self._prefill_s = time.perf_counter() - t0
        step = self._step_fn(params.greedy)
        produced, checked = 1, 0
        sync_every = self.options.sync_every
        while True:
            toks = self.tokens_buf[checked:produced].tolist()  # the one host sync per round
            if self.stop_token in toks:
                n = checked + toks.index(self.stop_token) + 1
                yield n, self.latents_buf[:n], True
                return
            checked = produced
            if produced >= max_new:
                yield produced, self.latents_buf[:produced], True
                return
            if report_every:
                yield produced, self.latents_buf[:produced], False
            burst = min(sync_every, max_new - produced)
            if report_every:  # stop exactly at the next chunk boundary for an early first chunk
                first, every = report_every
                burst = min(burst, first - produced if produced < first else
                            every - (produced - first) % every or every)
            for _ in range(burst):
                step()
            produced += burst

    def _prefill(self, text_tokens, cond_latents, params, min_new_tokens, generator=None) -> int:
        x, p = self.prompt(text_tokens, cond_latents)
        with attention_without_cudnn():  # the prompt's length is the request's own
            latents = self.packed(x, self.cache, self._positions[: p + 1])
        self.prefix_len.fill_(p)
        # upstream's input_ids: p placeholder ids (1) then the start token
        self.state.reset(params, [1, self.start_token], min_new_tokens, generator)
        self.latents_buf[0] = latents[0, -1]
        nxt = pick_next(self.packed.logits(latents[:, -1]), self.state, params.greedy, self.stop_token)
        record(nxt, self.state, self.tokens_buf)
        self.token.copy_(nxt)
        return p

    def prompt(self, text_tokens, cond_latents) -> tuple[torch.Tensor, int]:
        """The prefill's input [1, p + 1, D] (conditioning latents, the text between its start and
        stop tokens, the start audio token) and the prompt's length p before the start audio token."""
        gpt = self.gpt
        p = cond_latents.shape[1] + text_tokens.shape[-1] + 2
        if p + self.max_gen + self.options.sync_every + 1 > self.max_len:
            raise ValueError(f"prompt of {p} positions does not fit the cache ({self.max_len})")
        text = F.pad(text_tokens, (0, 1), value=gpt.stop_text_token)
        text = F.pad(text, (1, 0), value=gpt.start_text_token)
        emb = gpt.text_embedding(text) + gpt.text_pos_embedding(text)
        prefix = torch.cat([cond_latents.to(emb.dtype), emb], dim=1)
        start = torch.tensor([self.start_token], device=self.device)
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        return torch.cat([prefix.to(self.dtype), self.packed.audio_embedding(start, zero)], dim=1), p

    def _decode_step(self, greedy: bool) -> None:
        """One token: embed the last token, attend over the cache, sample, record. Device-only."""
        st = self.state
        x = self.packed.audio_embedding(self.token, st.n_gen)
        pos = self.prefix_len + st.n_gen
        lat = self.packed(x, self.cache, pos, self.cache_attention.over(pos + 1))
        self.latents_buf.index_copy_(0, st.n_gen, lat[0])
        nxt = pick_next(self.packed.logits(lat[0]), st, greedy, self.stop_token)
        record(nxt, st, self.tokens_buf)
        self.token.copy_(nxt)

    def _step_fn(self, greedy: bool):
        graph = self._graphs.get(greedy)
        if graph is not None:
            return graph.replay
        return lambda: self._decode_step(greedy)

    def _snapshot(self):
        st = self.state
        return [t.clone() for t in (st.seen, st.n_gen, self.token, self.tokens_buf, self.latents_buf, st.race)]

    def _restore(self, snap) -> None:
        st = self.state
        for dst, src in zip((st.seen, st.n_gen, self.token, self.tokens_buf, self.latents_buf, st.race), snap):
            dst.copy_(src)

    # ---- audio -----------------------------------------------------------------------
    def _frames(self, latents: torch.Tensor, speed: float) -> torch.Tensor:
        """HiFi-GAN's input for ``latents``: upstream's speed interpolation, then the decoder's own two
        (latent to mel-frame rate, 22.05 to 24 kHz), in float32, as ``HifiDecoder.forward`` does them."""
        decoder = self.model.hifigan_decoder
        lat = latents.float().unsqueeze(0)
        length_scale = 1.0 / max(speed, 0.05)
        if length_scale != 1.0:
            lat = F.interpolate(lat.transpose(1, 2), scale_factor=length_scale, mode="linear").transpose(1, 2)
        z = F.interpolate(lat.transpose(1, 2), scale_factor=[decoder.ar_mel_length_compression
                                                             / decoder.output_hop_length], mode="linear").squeeze(1)
        if decoder.output_sample_rate != decoder.input_sample_rate:
            z = F.interpolate(z, scale_factor=[decoder.output_sample_rate / decoder.input_sample_rate],
                              mode="linear").squeeze(0)
        return z

    def _vocode(self, latents: torch.Tensor, speaker_embedding: torch.Tensor, speed: float,
                side_thread: bool = False) -> torch.Tensor:
        """Upstream's speed interpolation and HiFi-GAN call; latents ``[n, D]`` back to float32 first.
        Returns ``[1, 1, samples]`` float32. The latents' length is the request's own, so the
        convolutions skip cuDNN: by the process-wide flag on the device worker, for this thread
        alone on a thread beside it (``side_thread``: the vocoder lane), since that flag is the
        worker's to set and restore (``engines/gpu/thread_convs.py``)."""
        lat = latents.float().unsqueeze(0)
        length_scale = 1.0 / max(speed, 0.05)
        if length_scale != 1.0:
            lat = F.interpolate(lat.transpose(1, 2), scale_factor=length_scale, mode="linear").transpose(1, 2)
        convs = thread_cudnn(self.device, enabled=False) if side_thread else variable_length_convs(self.device)
        with convs:
            return self.model.hifigan_decoder(lat, g=speaker_embedding.to(self.device))
