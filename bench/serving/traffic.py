"""Request traffic for the GPU stress run: random new-length texts, presets and clones, every
profile, some of them streamed; threads that send them through the manager the way the app's
workers do; and the bookkeeping (errors, fallbacks by kind, latencies, first chunks)."""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass, field

from bench.kit.inputs import REF_TEXT
from engines import NoEngineAvailableError, SynthesisRequest
from engines.gpu.waits import spread
from engines.profiles import PROFILES_BY_ENGINE

WORDS = ("the quick brown fox jumps over a lazy dog near quiet river banks while morning light falls on "
         "old wooden houses and children walk to school with small bags full of books bread and apples "
         "every evening music drifts from open windows into narrow streets of the sleepy little town").split()


def random_text(rng: random.Random, words: int) -> str:
    """``words`` words in sentences of 4-14 words; punctuation as people write it."""
    out, sentence = [], []
    for _ in range(words):
        sentence.append(rng.choice(WORDS))
        if len(sentence) >= rng.randint(4, 14):
            out.append(" ".join(sentence).capitalize() + rng.choice([".", ".", "!", "?"]))
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


def random_request(rng: random.Random, reference: str, min_words: int = 4, max_words: int = 70,
                   engines: tuple[str, ...] = ("f5tts", "xtts")) -> SynthesisRequest:
    engine = rng.choice(engines)
    profile = rng.choice(list(PROFILES_BY_ENGINE[engine]))
    common = dict(text=random_text(rng, rng.randint(min_words, max_words)), language="en", engine=engine,
                  quality_profile=profile, seed=rng.randrange(2**31))
    if rng.random() < 0.5:
        return SynthesisRequest(**common, reference_audio=reference, reference_text=REF_TEXT)
    return SynthesisRequest(**common, voice_preset=rng.choice(["female_generic", "male_generic"]))


@dataclass
class Tally:
    """What happened to a set of requests."""

    ok: int = 0
    errors: list[str] = field(default_factory=list)
    sanity_fallbacks: list[str] = field(default_factory=list)  # random weights stop early or run long
    other_fallbacks: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    first_chunks: list[float] = field(default_factory=list)  # streamed requests: seconds to the first audio
    first_chunks_by_engine: dict[str, list[float]] = field(default_factory=dict)  # the same, per engine asked for
    # streams that told where their first audio's time went (``first_audio_s``): (first chunk s, stages)
    first_audio_stages: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    audio_s: float = 0.0
    engines: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: SynthesisRequest, run) -> None:
        start = time.perf_counter()
        try:
            result = run(request, start)
        except NoEngineAvailableError as exc:
            reasons = " | ".join(exc.reasons.values())
            with self.lock:
                if all("sanity check" in why for why in exc.reasons.values()):
                    self.sanity_fallbacks.append(f"no engine passed the sanity check: {reasons}"[:300])
                else:
                    self.errors.append(f"NoEngineAvailableError: {reasons}"[:400])
            return
        except Exception as exc:  # every other failure is an error of the run, counted and shown
            with self.lock:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:400])
            return
        elapsed = time.perf_counter() - start
        meta = result.metadata
        with self.lock:
            self.ok += 1
            self.latencies.append(elapsed)
            self.audio_s += result.duration_s
            self.engines[meta["tts_engine_used"]] = self.engines.get(meta["tts_engine_used"], 0) + 1
            if meta["engine_fallback"]:
                reason = meta["fallback_reason"] or ""
                (self.sanity_fallbacks if "sanity check" in reason else self.other_fallbacks).append(reason[:300])
            elif meta.get("sanity_problem"):  # a stream cannot fall back once its audio has left: flagged
                self.sanity_fallbacks.append(f"streamed, flagged: {meta['sanity_problem']}"[:300])

    def streamed(self, manager):
        """A runner for ``record`` that streams the request, noting when its first chunk came."""
        def run(request: SynthesisRequest, start: float):
            stream = manager.stream(request)
            for number, _ in enumerate(stream):
                if number == 0:
                    seconds = time.perf_counter() - start
                    with self.lock:
                        self.first_chunks.append(seconds)
                        self.first_chunks_by_engine.setdefault(request.engine, []).append(seconds)
            stages = stream.result.metadata.get("first_audio_s")
            if stages:
                with self.lock:
                    self.first_audio_stages.append((seconds, stages))
            return stream.result

        return run

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        return {
            "requests": self.ok + len(self.errors) + sum(1 for s in self.sanity_fallbacks if s.startswith("no engine")),
            "ok": self.ok, "errors": len(self.errors), "error_samples": self.errors[:5],
            "sanity_fallbacks": len(self.sanity_fallbacks), "other_fallbacks": len(self.other_fallbacks),
            "other_fallback_samples": self.other_fallbacks[:5], "engines_used": self.engines,
            "p50_s": round(statistics.median(lat), 3) if lat else None,
            "p95_s": round(_p95(lat), 3) if lat else None,
            "max_s": round(lat[-1], 3) if lat else None, "audio_s": round(self.audio_s, 1),
            "streamed": len(self.first_chunks),
            "first_chunk_p50_s": round(statistics.median(self.first_chunks), 3) if self.first_chunks else None,
            "first_chunk": {engine: {"streams": len(times), "p50_s": round(statistics.median(times), 3),
                                     "p95_s": round(_p95(sorted(times)), 3), "max_s": round(max(times), 3)}
                            for engine, times in sorted(self.first_chunks_by_engine.items())},
            "first_audio_stages": stage_spread(self.first_audio_stages),
        }


def stage_spread(streams: list[tuple[float, dict[str, float]]]) -> dict | None:
    """Where the streams' first audio waited: each stage's spread (``engines.gpu.waits.spread``), and
    the slowest stream's stages beside its first chunk (the rest of it: the manager's preparation
    and the hand-over)."""
    if not streams:
        return None
    stages = sorted({stage for _, split in streams for stage in split})
    seconds, slowest = max(streams, key=lambda pair: pair[0])
    return {"streams": len(streams), **{stage: spread([split.get(stage, 0.0) for _, split in streams])
                                         for stage in stages},
            "slowest": {"first_chunk_s": round(seconds, 4), **slowest}}


def _p95(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def run_threads(manager, threads: int, per_thread: int, seed: int, reference: str, tally: Tally,
                stop: threading.Event | None = None, stream_share: float = 0.0, **request_kw) -> float:
    """``threads`` threads, each sending ``per_thread`` random requests (or until ``stop``), a
    ``stream_share`` of them streamed; wall seconds."""
    whole, streamed = (lambda request, start: manager.synthesize(request)), tally.streamed(manager)

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        count = 0
        while (stop is None and count < per_thread) or (stop is not None and not stop.is_set()
                                                         and count < per_thread):
            request = random_request(rng, reference, **request_kw)
            tally.record(request, streamed if rng.random() < stream_share else whole)
            count += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,), name=f"client-{i}") for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start
