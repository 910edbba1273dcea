"""One clip's XTTS conditioning is computed once, however many requests want it at the same time
(``engines/xtts/voice_latents.py``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engines.audio.waveforms import ReferenceAudio
from engines.xtts.voice_latents import VoiceLatents
from tests.waiting import until


def clip(tone_hz: float) -> ReferenceAudio:
    t = np.arange(24000) / 24000
    return ReferenceAudio(samples=np.sin(2 * np.pi * tone_hz * t).astype(np.float32), sample_rate=24000,
                          sha256=f"tone-{tone_hz}", source_seconds=1.0, cut=False)


class HeldComputation:
    """A computation that waits for ``go_on``, counting its calls."""

    def __init__(self, outcome):
        self.calls, self.go_on, self.outcome = 0, threading.Event(), outcome

    def __call__(self):
        self.calls += 1
        assert self.go_on.wait(30)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def four_at_once(latents: VoiceLatents, reference: ReferenceAudio, compute: HeldComputation):
    entered, real_shared = [], latents.shared

    def shared(ref, fn):
        entered.append(ref)
        return real_shared(ref, fn)

    latents.shared = shared
    pool = ThreadPoolExecutor(4)
    futures = [pool.submit(latents.shared, reference, compute) for _ in range(4)]
    assert until(lambda: len(entered) == 4 and compute.calls == 1, 30), "four requests asked for the clip"
    compute.go_on.set()
    pool.shutdown(wait=True)
    return futures


def test_four_requests_for_one_new_clip_compute_its_latents_once():
    latents, reference = VoiceLatents(), clip(220.0)
    compute = HeldComputation(("latent", "embedding", "computed"))
    futures = four_at_once(latents, reference, compute)
    sources = sorted(f.result()[2] for f in futures)
    assert compute.calls == 1
    assert sources == ["computed", "memory", "memory", "memory"]
    assert all(f.result()[:2] == ("latent", "embedding") for f in futures)


def test_a_failed_computation_fails_every_request_waiting_for_it_and_the_next_one_tries_again():
    latents, reference = VoiceLatents(), clip(330.0)
    compute = HeldComputation(RuntimeError("the clip is silent"))
    futures = four_at_once(latents, reference, compute)
    for future in futures:
        with pytest.raises(RuntimeError, match="the clip is silent"):
            future.result()
    assert compute.calls == 1
    again = HeldComputation(("latent", "embedding", "computed"))
    again.go_on.set()
    assert latents.shared(reference, again)[2] == "computed" and again.calls == 1


def test_a_listener_joining_a_computation_in_flight_hurries_it():
    """A stream that finds its clip's latents being computed for a whole clip says it is waiting
    too (the worker shortens a turn for it); a whole clip that joins does not."""
    latents, reference = VoiceLatents(), clip(440.0)
    compute = HeldComputation(("latent", "embedding", "computed"))
    hurried = []
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(latents.shared, reference, compute)
        assert until(lambda: compute.calls == 1, 30)
        listener = pool.submit(latents.shared, reference, compute, lambda: hurried.append("stream"))
        whole_clip = pool.submit(latents.shared, reference, compute)
        assert until(lambda: hurried == ["stream"], 30), "the listener hurried the computation it joined"
        compute.go_on.set()
        assert [f.result()[2] for f in (first, listener, whole_clip)] == ["computed", "memory", "memory"]
    assert compute.calls == 1 and hurried == ["stream"]
