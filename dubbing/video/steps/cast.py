"""A voice per speaker, cloned from that speaker's own speech in the video.

For each speaker the cleanest 6-12 s of their (separated) speech is chosen: runs of
their consecutive cues with no one else speaking between, scored by how long they
are (6-12 s is what F5-TTS clones best from) and by how far their speech stands above
the background. Whisper's words for those cues are the transcript. Each voice is saved
in the voice library, named after the project and the speaker, so it can be renamed,
reused, exported or replaced like any saved voice. A speaker heard too little to clone
(under ``MIN_CLONE_S``) speaks in the voice of the speaker heard nearest in time, and
the result says so.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import InputError
from engines.languages import normalize_language
from engines.voices.library import VoiceLibrary

from ..state import Cue

logger = logging.getLogger("voice_studio.dubbing.video.cast")

MIN_REFERENCE_S, MAX_REFERENCE_S = 6.0, 12.0
MIN_CLONE_S = 2.0
MAX_JOIN_GAP_S = 1.0        # cues further apart than this are not one stretch of a speaker's speech
MAX_NAME_CHARS = 60

Cleanliness = Callable[[float, float], float]   # (start s, end s) -> speech-to-background ratio in dB
ClipReader = Callable[[float, float], np.ndarray]   # (start s, end s) -> that stretch of a sound, mono


def windows(cues: list[Cue], speaker: str) -> list[list[int]]:
    """Every run of ``speaker``'s consecutive cues (indices into ``cues``) spanning at most
    ``MAX_REFERENCE_S``, with gaps under ``MAX_JOIN_GAP_S`` and no other speaker between."""
    found = []
    for i, cue in enumerate(cues):
        if cue.speaker != speaker:
            continue
        run = [i]
        if cue.seconds <= MAX_REFERENCE_S:
            found.append(list(run))
        for j in range(i + 1, len(cues)):
            nxt = cues[j]
            if nxt.speaker != speaker or nxt.start_s - cues[run[-1]].end_s > MAX_JOIN_GAP_S:
                break
            if nxt.end_s - cue.start_s > MAX_REFERENCE_S:
                break
            run.append(j)
            found.append(list(run))
    return found


def choose_reference(cues: list[Cue], speaker: str, clean: Cleanliness | None = None) -> list[int] | None:
    """The cue run to clone ``speaker`` from: within 6-12 s if any is, the cleanest of those
    (ties: the longer); else the longest. None when the speaker has no cue."""
    runs = windows(cues, speaker)
    if not runs:
        return None

    def span(run: list[int]) -> float:
        return cues[run[-1]].end_s - cues[run[0]].start_s

    fitting = [r for r in runs if span(r) >= MIN_REFERENCE_S]
    if not fitting:
        return max(runs, key=span)
    if clean is None:
        return max(fitting, key=span)
    return max(fitting, key=lambda r: (round(clean(cues[r[0]].start_s, cues[r[-1]].end_s), 1), span(r)))


def speech_seconds(cues: list[Cue], speaker: str) -> float:
    return sum(c.seconds for c in cues if c.speaker == speaker)


def stand_ins(cues: list[Cue]) -> dict[str, str]:
    """Speakers heard under ``MIN_CLONE_S`` -> the clonable speaker heard nearest in time."""
    speakers = list(dict.fromkeys(c.speaker for c in cues if c.speaker))
    clonable = [s for s in speakers if speech_seconds(cues, s) >= MIN_CLONE_S]
    if not clonable:
        return {}
    out = {}
    for speaker in speakers:
        if speaker in clonable:
            continue
        mine = [c for c in cues if c.speaker == speaker]
        others = [c for c in cues if c.speaker in clonable]
        nearest = min(others, key=lambda c: min(abs(c.start_s - m.start_s) for m in mine))
        out[speaker] = nearest.speaker
    return out


def snr_db(read_dialogue: ClipReader, read_background: ClipReader | None) -> Cleanliness:
    """How far the speech stands above the background in a stretch (0 when there is no background)."""
    def clean(start: float, end: float) -> float:
        if read_background is None:
            return 0.0
        speech = float(np.mean(np.square(read_dialogue(start, end)))) + 1e-10
        rest = float(np.mean(np.square(read_background(start, end)))) + 1e-10
        return float(10 * np.log10(speech / rest))

    return clean


def voice_name(library: VoiceLibrary, project_name: str, speaker: str, project_id: str) -> str:
    base = f"{project_name[: MAX_NAME_CHARS - 12]} {speaker}".strip()
    taken = {r.name.casefold() for r in library.records()}
    return base if base.casefold() not in taken else f"{base} {project_id[-8:]}"


def clone_speakers(library: VoiceLibrary, cues: list[Cue], read_clip: ClipReader, clean: Cleanliness,
                   project_name: str, project_id: str, language: str | None) -> dict[str, Any]:
    """Save a voice per speaker; returns the stage's result (speaker -> voice id and where it came from).

    ``read_clip(start, end)``: the speaker's speech there, mono at 24 kHz."""
    import soundfile as sf

    try:
        voice_language = normalize_language(language) if language else None
    except InputError:  # a source language no engine speaks: the voice is saved without one
        voice_language = None
    borrowed = stand_ins(cues)
    speakers = [s for s in dict.fromkeys(c.speaker for c in cues if c.speaker) if s not in borrowed]
    if not speakers:
        raise InputError(f"no speaker is heard for {MIN_CLONE_S:.0f} s or more: there is too little speech to "
                         "clone a voice from")
    voices: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cast-") as tmp:
        for speaker in speakers:
            run = choose_reference(cues, speaker, clean)
            start, end = cues[run[0]].start_s, cues[run[-1]].end_s
            clip = read_clip(max(0.0, start - 0.05), end + 0.05)
            path = Path(tmp) / f"{speaker}.wav"
            sf.write(path, clip, 24000, subtype="PCM_16")
            transcript = " ".join(cues[i].text for i in run)
            # The clip's origin, in the notes: a stage run again after a crash finds the voice it saved.
            tag = f"[{project_id} {speaker} {start:.3f}-{end:.3f}]"
            saved = next((r for r in library.records() if tag in (r.notes or "")), None)
            if saved is not None:
                voice_id, name = saved.id, saved.name
            else:
                name = voice_name(library, project_name, speaker, project_id)
                voice_id = library.add(name, path, transcript=transcript, language=voice_language,
                                       notes=f"cloned from {project_name} {tag}")["id"]
            voices[speaker] = {"voice": voice_id, "name": name, "start_s": round(start, 3),
                               "end_s": round(end, 3), "seconds": round(end - start, 3), "transcript": transcript,
                               "clean_db": round(clean(start, end), 2)}
            logger.info("speaker voice ready", extra={"speaker": speaker, "voice": voice_id, "reused": saved is not None,
                                                      "seconds": round(end - start, 2)})
    for speaker, other in borrowed.items():
        voices[speaker] = {**voices[other], "borrowed_from": other,
                           "reason": f"{speaker} speaks {speech_seconds(cues, speaker):.1f} s, too little to clone"}
    return {"voices": voices}
