"""Voices by name: the built-in presets and the saved voices, in one namespace.

``VoiceCatalog.resolve(name)`` gives the ``Voice`` an engine takes. A preset is a studio
speaker on XTTS; an engine that needs a reference clip (F5-TTS) gets one from
``reference_for``, in this order (see ``presets.py``):

1. ``$VOICE_STUDIO_PRESETS_DIR/<preset>.wav`` + ``<preset>.txt`` (``user_clip``);
2. a sentence rendered once by XTTS with the same studio speaker, then cached
   (``rendered_by_xtts``); the rendering is an ordinary request through the manager's
   fallback loop and sanity guard, handed in as ``render``, so this module never calls
   back into the manager;
3. a clip shipped in the f5-tts package, where one fits (``packaged``).

A saved voice comes from the voice library (``library``), which knows its own clip,
transcript and caches.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..audio.waveforms import load_reference_audio
from ..errors import InputError, VoiceStudioError
from .presets import DEFAULT_PRESET, PRESETS, VoicePreset
from ..storage import atomic_write
from ..types import SynthesisRequest, SynthesisResult, Voice

logger = logging.getLogger(__name__)

RENDER_SEED = 1234
RENDER_PROFILE = "xtts_balanced"

# render(request) -> result: the manager's own synthesize, with its fallback and guard.
Render = Callable[[SynthesisRequest], SynthesisResult]


class CannotServe(Exception):
    """This engine cannot take this request; the message is the fallback reason."""


class VoiceLibrary(Protocol):
    """Saved voices (``engines.voices.library``); the catalog asks it for ids it does not know."""

    def get(self, voice_id: str) -> Voice | None: ...

    def list(self) -> list[dict[str, Any]]: ...


class VoiceCatalog:
    """Presets and saved voices by id; presets' F5 references rendered or found once, cached."""

    def __init__(self, cache_dir: Path, presets_dir: Path | None = None, library: VoiceLibrary | None = None):
        self.cache_dir = cache_dir
        self.presets_dir = presets_dir
        self.library = library
        self._lock = threading.Lock()

    @property
    def render_dir(self) -> Path:
        return self.cache_dir / "preset_voices"

    # --- names ------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every voice, presets first: ``{"id", "name", "kind", "language"}`` and what else each knows."""
        voices = [{"id": p.name, "name": p.label, "kind": "preset", "language": None} for p in PRESETS.values()]
        if self.library is not None:
            voices.extend(self.library.list())
        return voices

    def resolve(self, name: str | None) -> Voice:
        key = (name or DEFAULT_PRESET).strip()
        if key in PRESETS:
            preset = PRESETS[key]
            return Voice(id=preset.name, kind="preset", speaker=preset.xtts_speaker)
        found = self.library.get(key) if self.library is not None else None
        if found is None:
            raise InputError(f"unknown voice {name!r}; available voices: "
                             + ", ".join(v["id"] for v in self.list()))
        return found

    # --- a preset's reference clip ----------------------------------------------------
    def reference_for(self, voice: Voice, language: str, render: Render | None,
                      speaker_known: Callable[[str], bool] = lambda _: True) -> Voice:
        """``voice`` with a reference clip and transcript; raises ``CannotServe`` when none can be had.

        ``speaker_known(name)`` says whether the renderer has that studio speaker.
        """
        if voice.reference is not None:
            return voice
        preset = PRESETS.get(voice.id) if voice.kind == "preset" else None
        if preset is None:
            raise CannotServe(f"voice {voice.id} has no reference clip")
        with self._lock:
            found = (self._user_clip(preset) or self._rendered(preset, language, render, speaker_known)
                     or self._packaged(preset))
        if found is None:
            raise CannotServe(
                f"preset {preset.name} has no F5-TTS reference here: XTTS (which renders it) is unavailable "
                f"and no clip is set; put {preset.name}.wav and {preset.name}.txt in VOICE_STUDIO_PRESETS_DIR")
        clip, transcript, origin, extra = found
        return Voice(id=voice.id, kind=voice.kind, reference=load_reference_audio(clip), transcript=transcript,
                     speaker=voice.speaker, language=voice.language,
                     details={**voice.details, "preset_reference": origin, **extra})

    def _user_clip(self, preset: VoicePreset):
        if self.presets_dir is None:
            return None
        clip, transcript = self.presets_dir / f"{preset.name}.wav", self.presets_dir / f"{preset.name}.txt"
        if not (clip.is_file() and transcript.is_file()):
            return None
        return clip, transcript.read_text(encoding="utf-8").strip(), "user_clip", {}

    def _rendered(self, preset: VoicePreset, language: str, render: Render | None,
                  speaker_known: Callable[[str], bool]):
        """The preset's sentence rendered once by XTTS with its studio speaker, cached on disk."""
        if render is None:
            return None
        render_language, sentence = preset.reference_text_for(language)
        key = hashlib.sha256(f"{preset.xtts_speaker}|{render_language}|{sentence}".encode()).hexdigest()[:16]
        clip = self.render_dir / f"{preset.name}-{key}.wav"
        if clip.is_file():
            return clip, sentence, "rendered_by_xtts", {}
        if not speaker_known(preset.xtts_speaker):
            return None
        request = SynthesisRequest(text=sentence, language=render_language, engine="xtts",
                                   voice_preset=preset.name, quality_profile=RENDER_PROFILE, seed=RENDER_SEED,
                                   allow_fallback=False, text_normalization=False)
        try:
            result = render(request)
        except VoiceStudioError as exc:  # XTTS could not render it (down, or output failed the guard)
            logger.warning("preset reference not rendered", extra={"preset": preset.name, "reason": str(exc)})
            return None
        try:
            atomic_write(clip, lambda handle: _write_wav(handle, result))
        except OSError as exc:  # still usable for this request; rendered again next time
            logger.warning("could not cache preset reference", extra={"clip": clip.name, "error": str(exc)})
        else:
            logger.info("preset reference rendered", extra={"preset": preset.name, "clip": clip.name})
        timings = {"preset_render_s": result.metadata.get("synth_s", 0.0),
                   "preset_render_load_s": result.metadata.get("load_s", 0.0)}
        if clip.is_file():
            return clip, sentence, "rendered_by_xtts", timings
        return None

    @staticmethod
    def _packaged(preset: VoicePreset):
        packaged = preset.packaged_reference()
        if packaged is None:
            return None
        clip, transcript = packaged
        return clip, transcript, "packaged", {}


def _write_wav(handle, result: SynthesisResult) -> None:
    import soundfile as sf

    sf.write(handle, result.audio, result.sample_rate, subtype="PCM_16", format="WAV")
