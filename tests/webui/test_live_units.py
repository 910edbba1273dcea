"""Live playback's generator on the tiny models, in-process: steady 16-bit pieces, then the saved clip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from engines import SynthesisRequest
from history import OutputHistory
from webui.serving.limits import Admission
from webui.serving.speech_service import SpeechService
from webui.tabs.speech import stream_outputs

TEXT = ("The first sentence of a short text, read in pieces as it is made. "
        "A second sentence follows it, so the stream has several chunks.")


def test_pieces_of_one_second_then_the_whole_clip_saved_to_history(manager, tmp_path):
    history = OutputHistory(tmp_path / "outputs")
    service = SpeechService(manager, history, Admission(max_running=1, max_waiting=0))
    request = SynthesisRequest(text=TEXT, language="en", engine="xtts", voice_preset="male_generic",
                               quality_profile="xtts_fast", seed=3)
    outputs = list(stream_outputs(service, request, None))

    pieces = [sf.read(io.BytesIO(out[0]), dtype="int16") for out in outputs[:-1]]
    assert len(pieces) >= 2 and all(rate == 24000 for _, rate in pieces)
    assert all(len(samples) == 24000 for samples, _ in pieces[:-1]) and 0 < len(pieces[-1][0]) <= 24000
    audio_path, badges, metadata = outputs[-1][1:]
    assert metadata["streamed"] is True and metadata["tts_engine_used"] == "xtts" and "Engine: XTTS" in badges
    saved = history.get(metadata["history_id"])
    # The page gets a copy in Gradio's cache (the output folder itself is never served).
    assert saved is not None and saved.ok and Path(audio_path).read_bytes() == saved.audio_path.read_bytes()
    whole, rate = sf.read(audio_path, dtype="int16")
    played = np.concatenate([samples for samples, _ in pieces])
    assert rate == 24000 and played.shape == whole.shape
    assert np.abs(played.astype(np.int32) - whole).max() <= 1  # the same samples (rounding aside)
    assert service.admission.status()["running"] == 0  # the slot went back
