"""The XTTS-v2 adapter, on ``TTS.tts.models.xtts.Xtts`` (coqui-tts).

A reference clip's conditioning latents come from ``voice_latents.VoiceLatents`` (computed
once per clip, kept in memory and in a saved voice's cache).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio.waveforms import crossfade_join, crossfade_pieces
from ..base import Engine, report, seed_everything
from ..weights.checkpoints import _unsupported_global
from ..errors import CheckpointError, EngineUnavailableError, EngineUnloaded
from ..languages import XTTS_CODES, from_xtts_code
from ..profiles import XttsProfile
from ..settings import XTTS_LICENSE, XttsSettings
from ..weights.sources import without_paths
from ..types import EngineHealth, EngineJob, EngineOutput
from .chunking import (CHUNK_CROSS_FADE_S, NO_AUDIO, SAMPLE_RATE, STREAM_CHUNK_TOKENS, STREAM_FIRST_CHUNK_TOKENS,
                       text_chunks)
from .voice_latents import VoiceLatents

if TYPE_CHECKING:
    from ..worker import DeviceWorker

logger = logging.getLogger(__name__)

# How long an unload waits for the vocoder lane's queued work; past it the work finishes in the
# background (holding the model's memory until then) rather than hanging the unload.
LANE_CLOSE_S = 120.0


@dataclass(frozen=True)
class _Loaded:
    """Everything a request needs, made ready together (the engine is loaded when this is set)."""

    model: Any
    accelerator: Any  # engines.xtts.accel.XttsAccelerator, or None for upstream's own inference
    model_key: str
    batch: Any = None  # engines.xtts.accel.xtts_batch.ContinuousBatch, or None: one decode at a time
    lane: Any = None  # engines.gpu.side_lane.SideLane that vocodes the batch's whole clips, or None: the worker does
    stream_lane: Any = None  # the SideLane for streams' pieces (beside ``lane``, so no piece waits for a clip)


class XttsEngine(Engine):
    name = "xtts"
    display_name = "XTTS-v2"
    sample_rate = SAMPLE_RATE

    def __init__(self, settings: XttsSettings, device_preference: str = "auto", accel: str = "auto"):
        super().__init__(device_preference)
        self.settings = settings
        self.accel_mode = accel  # auto and graphs are the same for XTTS: its decode step is graphed, never compiled
        self._loaded: _Loaded | None = None
        # The config's languages when it is on disk, else the published 17, until the model loads.
        self._languages: tuple[str, ...] = settings.declared_languages or tuple(XTTS_CODES)
        self.latents = VoiceLatents()  # each reference clip's conditioning, computed once

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages

    @property
    def model_spec(self) -> str:
        return self.settings.model_dir.spec

    @property
    def license(self) -> str | None:
        return XTTS_LICENSE

    @property
    def model_key(self) -> str | None:
        return self._loaded.model_key if self._loaded is not None else None

    def missing_weights(self) -> list[tuple[str, str, str]]:
        source = self.settings.model_dir
        return [(source.description, source.spec, source.env_var)] if source.missing_locally() else []

    @property
    def speakers(self) -> list[str]:
        manager = getattr(self.model, "speaker_manager", None)
        return sorted(manager.speakers) if manager is not None else []

    def knows_speaker(self, speaker: str) -> bool:
        return speaker in self.speakers

    def _load(self, device: str):
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts

        model_dir = self.settings.model_dir.resolve()
        try:
            config = XttsConfig()
            config.load_json(str(model_dir / "config.json"))
            model = Xtts.init_from_config(config)
            model.load_checkpoint(config, checkpoint_dir=str(model_dir), eval=True, use_deepspeed=False)
        except pickle.UnpicklingError as exc:  # torch's text here advises weights_only=False: never pass it on
            what = (f"holds a .pth file with objects that are not plain tensors and was refused (only weights are "
                    f"loaded, never arbitrary pickles): {_unsupported_global(exc)}" if "GLOBAL" in str(exc)
                    else "holds a .pth file that is not a readable PyTorch file (truncated or corrupt)")
            raise CheckpointError(f"XTTS-v2 model {self.settings.model_dir.name!r} {what}: set XTTS_MODEL to a "
                                  "directory with trusted config.json, model.pth, vocab.json") from exc
        except Exception as exc:  # any failure inside coqui's loader means: this model dir is unusable
            raise EngineUnavailableError(
                f"XTTS-v2 model {self.settings.model_dir.name!r} could not be loaded ({type(exc).__name__}: "
                f"{without_paths(str(exc).splitlines()[0]) if str(exc) else ''}): set XTTS_MODEL to a directory "
                "with config.json, model.pth, vocab.json") from exc
        return model, config, model_dir

    def _activate(self, staged) -> None:
        model, config, model_dir = staged
        model = model.to(self.device)
        accelerator = None
        if self.accel_mode != "off":
            from .accel import XttsAccelerator

            accelerator = XttsAccelerator(model, self.device)
        served = [from_xtts_code(code) for code in config.languages]
        self._languages = tuple(code for code in served if code is not None)
        key = model_fingerprint(model_dir)
        self.load_details = {"model_dir": self.settings.model_dir.show(model_dir),
                             "speakers": len(getattr(model.speaker_manager, "speakers", None) or []),
                             "accelerated": accelerator is not None, "model_key": key}
        batch = lane = stream_lane = None
        if accelerator is not None:  # "flash" or "sdpa": which kernel attends in the decode step
            self.load_details["decode_attention"] = accelerator.cache_attention.kernel
            from .batching import batch_options

            options = batch_options(self.settings, accelerator)
            if options is not None:
                from .accel.xtts_batch import ContinuousBatch

                batch = ContinuousBatch(accelerator, options)
                lane = vocoder_lane(self.settings, accelerator, "xtts vocoder lane")
                stream_lane = vocoder_lane(self.settings, accelerator, "xtts stream lane")
                self.load_details["decode_batch"] = {"mode": self.settings.batch, "slots": options.slots,
                                                     "buckets": list(batch.decoder.buckets),
                                                     "slice_steps": options.slice_steps,
                                                     "vocode": self.settings.vocode}
        self._loaded = _Loaded(model=model, accelerator=accelerator, model_key=key, batch=batch, lane=lane,
                               stream_lane=stream_lane)

    def start_warmup(self, worker: "DeviceWorker") -> None:
        """On CUDA: capture the decode graphs as one job (held back while another engine compiles);
        with batching, one job per batch-size bucket, taking turns with the requests."""
        accelerator = self.accelerator
        if accelerator is None or not accelerator.options.use_graphs:
            return
        import time

        self.warmup = {"state": "capturing", "graphs": 0}
        if self._loaded.batch is not None:
            from .batching import capture_buckets

            capture_buckets(self, self._loaded, worker)
            return

        def capture() -> None:
            start = time.perf_counter()
            try:
                accelerator.capture_graphs()
            except Exception as exc:  # decoding stays eager (slower), and health says why
                self.warmup.update(state="failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
                raise
            self.warmup.update(state="ready", graphs=2, capture_s=round(time.perf_counter() - start, 2))

        worker.submit(capture, label="xtts capture", exclusive=True)

    def _unload(self) -> None:
        loaded, self._loaded = self._loaded, None
        if loaded is not None and loaded.batch is not None:  # decodes in flight go back to their callers
            loaded.batch.close(EngineUnloaded(self.name))
        for lane in (loaded.lane, loaded.stream_lane) if loaded is not None else ():
            if lane is not None:  # its queued HiFi-GAN work ends first
                lane.close(EngineUnloaded(self.name), timeout=LANE_CLOSE_S)
        self.latents.clear()

    @contextmanager
    def unloading(self) -> Iterator[None]:
        """The decodes in flight and waiting end before the unload; requests that come meanwhile wait
        for it, then load the engine again (``EngineUnloaded``)."""
        loaded = self._loaded
        batch = loaded.batch if loaded is not None else None
        if batch is None:
            yield
            return
        batch.drain()
        try:
            yield
        finally:
            batch.end_drain()

    def health(self, load_error: str | None = None) -> EngineHealth:
        health = super().health(load_error)
        loaded = self._loaded
        if loaded is not None and loaded.batch is not None:
            health.details["decode_batch"] = {**self.load_details.get("decode_batch", {}), **loaded.batch.status()}
            if loaded.lane is not None:
                health.details["decode_batch"]["vocoder_lane"] = loaded.lane.status()
            if loaded.stream_lane is not None:
                health.details["decode_batch"]["stream_lane"] = loaded.stream_lane.status()
        return health

    def cannot_serve(self, job: EngineJob) -> str | None:
        reason = super().cannot_serve(job)
        if reason:
            return reason
        voice = job.voice
        if voice.reference is None and voice.speaker is None:
            return "XTTS needs a reference clip or a studio speaker"
        if voice.reference is None and self.is_loaded and not self.knows_speaker(voice.speaker):
            return (f"XTTS speakers file has no speaker {voice.speaker!r}"
                    + ("" if self.speakers else " (speakers_xtts.pth missing from the model directory)"))
        return None

    def conditioning(self, loaded: _Loaded, job: EngineJob):
        """(gpt_cond_latent, speaker_embedding, where they came from) for a studio speaker or a clip."""
        voice = job.voice
        if voice.reference is None:
            entry = loaded.model.speaker_manager.speakers[voice.speaker]
            return entry["gpt_cond_latent"], entry["speaker_embedding"], "studio_speaker"
        return self.latents.of_clip(loaded.model, loaded.model_key, self.device, voice.reference, voice.cache)

    def conditioning_for(self, loaded: _Loaded, job: EngineJob, worker: "DeviceWorker", listening: bool = False):
        """``conditioning`` from a caller's thread: a studio speaker, or a clip whose latents are in
        memory or being computed for another request, at once or once they are; else computed by a
        short job on the device worker, which may run inside a long job's turn offer (``interleave``)
        instead of behind every job queued before it. ``listening``: a stream's first audio waits
        for it, so the job running gives way sooner."""
        reference = job.voice.reference
        if reference is None:
            return self.conditioning(loaded, job)
        return self.latents.shared(reference, lambda: worker.call(
            lambda: self.conditioning(loaded, job), label="xtts conditioning", interleave=True, hurry=listening),
            joining=worker.hurry if listening else None)

    # --- continuous batching (engines/xtts/batching.py) --------------------------------------
    def schedules_itself(self) -> bool:
        return self.accel_mode != "off" and self.settings.batch != "off"

    def render_scheduled(self, job: EngineJob, worker: "DeviceWorker") -> EngineOutput:
        from . import batching

        return batching.render(self, self._batched(), job, worker)

    def stream_scheduled(self, job: EngineJob, worker: "DeviceWorker") -> Iterator[np.ndarray]:
        from . import batching

        return batching.stream(self, self._batched(), job, worker)

    def _batched(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            raise EngineUnloaded(self.name)
        if loaded.batch is None:
            raise EngineUnavailableError("XTTS-v2 runs without its accelerator, so its decodes are not batched")
        return loaded

    def _chunks(self, loaded: _Loaded, job: EngineJob) -> list[str]:
        return text_chunks(loaded.model.tokenizer, job.text, XTTS_CODES[job.language])

    def _sampling(self, job: EngineJob, loaded: _Loaded) -> dict:
        p: XttsProfile = job.profile
        kwargs = dict(temperature=p.temperature, length_penalty=p.length_penalty,
                      repetition_penalty=p.repetition_penalty, top_k=p.top_k, top_p=p.top_p, speed=job.speed)
        if loaded.accelerator is not None:
            return {**kwargs, "seed": job.seed}
        return {**kwargs, "enable_text_splitting": False}

    def synthesize(self, job: EngineJob) -> EngineOutput:
        loaded = self._loaded
        if loaded is None:
            raise EngineUnavailableError("XTTS-v2 is not loaded")
        code = XTTS_CODES[job.language]
        chunks = self._chunks(loaded, job)
        latent, embedding, source = self.conditioning(loaded, job)
        # The accelerator computes the same function as Xtts.inference (engines/xtts/accel/xtts.py).
        infer = loaded.accelerator.inference if loaded.accelerator is not None else loaded.model.inference
        seed_everything(job.seed)
        waves = []
        for index, chunk in enumerate(chunks):
            report(job, index / len(chunks), f"XTTS: chunk {index + 1} of {len(chunks)}")
            sampling = self._sampling(job, loaded)
            if "seed" in sampling:
                sampling["seed"] = job.seed + index
            out = infer(chunk, code, latent, embedding, **sampling)
            waves.append(np.asarray(out["wav"], dtype=np.float32).reshape(-1))
        report(job, 1.0, "XTTS: done")
        return EngineOutput(audio=crossfade_join(waves, SAMPLE_RATE, CHUNK_CROSS_FADE_S), chunks=len(chunks),
                            details=self._details(loaded, job, source))

    def stream(self, job: EngineJob) -> Iterator[np.ndarray]:
        """Chunks every ``STREAM_CHUNK_TOKENS`` audio tokens, text chunk after text chunk."""
        loaded = self._loaded
        if loaded is None:
            raise EngineUnavailableError("XTTS-v2 is not loaded")
        code = XTTS_CODES[job.language]
        latent, embedding, _ = self.conditioning(loaded, job)
        if loaded.accelerator is not None:
            infer = partial(loaded.accelerator.inference_stream, first_chunk_size=STREAM_FIRST_CHUNK_TOKENS)
        else:
            infer = loaded.model.inference_stream
        seed_everything(job.seed)

        def text_chunks() -> Iterator[tuple[np.ndarray, bool]]:
            """Each piece as soon as it exists; an empty piece ends a text chunk's wave."""
            for index, chunk in enumerate(self._chunks(loaded, job)):
                sampling = self._sampling(job, loaded)
                if "seed" in sampling:
                    sampling["seed"] = job.seed + index
                for part in infer(chunk, code, latent, embedding, stream_chunk_size=STREAM_CHUNK_TOKENS,
                                  **sampling):
                    yield part.detach().float().cpu().numpy().reshape(-1), False
                yield NO_AUDIO, True

        # The text chunks join as ``synthesize`` joins them; only the cross-fade is held back.
        yield from crossfade_pieces(text_chunks(), SAMPLE_RATE, CHUNK_CROSS_FADE_S)

    def _details(self, loaded: _Loaded, job: EngineJob, source: str) -> dict:
        details = {"accelerated": loaded.accelerator is not None, "latents_source": source}
        if job.voice.reference is None:
            details["xtts_speaker"] = job.voice.speaker
        return details


def vocoder_lane(settings: XttsSettings, accelerator, label: str):
    """A thread that vocodes the batch's rows beside the device worker (``VOICE_STUDIO_XTTS_VOCODE=lane``),
    or None (``worker``: the sinks vocode on the worker). Called on the worker, whose side work it is.
    The engine keeps two: whole clips in one, streams' pieces in the other, so a listener's next
    piece never waits for a long clip's HiFi-GAN to end."""
    if settings.vocode != "lane":
        return None
    from ..gpu.side_lane import SideLane
    from ..worker import current_worker

    return SideLane(accelerator.device, worker=current_worker(), label=label)


def model_fingerprint(model_dir: Path) -> str:
    """A short hash of the model's files: the config and vocab in full, the weights by size and edges."""
    digest = hashlib.sha256()
    for name in ("config.json", "vocab.json"):
        path = model_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    weights = model_dir / "model.pth"
    size = weights.stat().st_size
    digest.update(str(size).encode())
    with open(weights, "rb") as handle:
        digest.update(handle.read(4 << 20))
        handle.seek(max(0, size - (4 << 20)))
        digest.update(handle.read(4 << 20))
    return digest.hexdigest()[:16]
