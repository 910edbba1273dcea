"""F5-TTS references for the dubbing presets (see ``presets.py`` for the order)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .audio import ReferenceAudio, load_reference_audio, write_wav
from .errors import InputError
from .presets import VoicePreset
from .profiles import XTTS_PROFILES
from .types import EngineJob

if TYPE_CHECKING:
    from .manager import EngineManager

logger = logging.getLogger(__name__)

RENDER_SEED = 1234


class CannotServe(Exception):
    """This engine cannot take this request; the message is the fallback reason."""


class PresetReferences:
    def __init__(self, manager: "EngineManager"):
        self.manager = manager
        self._lock = threading.Lock()

    @property
    def render_dir(self) -> Path:
        return self.manager.settings.cache_dir / "preset_voices"

    def for_f5(self, preset: VoicePreset, language: str) -> tuple[ReferenceAudio, str]:
        with self._lock:
            found = self._user_clip(preset) or self._xtts_render(preset, language) or self._packaged(preset)
        if found is None:
            raise CannotServe(
                f"preset {preset.name} has no F5-TTS reference here: XTTS (which renders it) is unavailable "
                f"and no clip is set; put {preset.name}.wav and {preset.name}.txt in VOICE_STUDIO_PRESETS_DIR")
        return found

    def _user_clip(self, preset: VoicePreset) -> tuple[ReferenceAudio, str] | None:
        directory = self.manager.settings.presets_dir
        if directory is None:
            return None
        clip, transcript = directory / f"{preset.name}.wav", directory / f"{preset.name}.txt"
        if not (clip.is_file() and transcript.is_file()):
            return None
        return load_reference_audio(clip), transcript.read_text(encoding="utf-8").strip()

    def _xtts_render(self, preset: VoicePreset, language: str) -> tuple[ReferenceAudio, str] | None:
        """Render the preset's sentence once with its XTTS studio speaker; cache the clip on disk."""
        xtts = self.manager.engines.get("xtts")
        if xtts is None:
            return None
        render_language, sentence = preset.reference_text_for(language)
        if render_language not in xtts.languages:
            render_language, sentence = preset.reference_text_for("en")
        key = hashlib.sha256(f"{xtts.model_spec}|{preset.xtts_speaker}|{sentence}".encode()).hexdigest()[:16]
        clip = self.render_dir / f"{preset.name}-{key}.wav"
        if not clip.is_file():
            if self.manager.ensure_loaded("xtts") is not None or preset.xtts_speaker not in xtts.speakers:
                return None
            job = EngineJob(text=sentence, language=render_language, profile=XTTS_PROFILES["xtts_balanced"],
                            speed=1.0, seed=RENDER_SEED, xtts_speaker=preset.xtts_speaker)
            with self.manager._synth_locks["xtts"]:
                output = xtts.synthesize(job)
            if not self._write_atomically(clip, output.audio, xtts.sample_rate):
                return None
            logger.info("preset reference rendered", extra={"preset": preset.name, "clip": str(clip)})
        try:
            return load_reference_audio(clip), sentence
        except InputError as exc:  # a rendering that is silent or too short is no reference
            logger.warning("preset reference unusable", extra={"preset": preset.name, "reason": str(exc)})
            return None

    def _write_atomically(self, clip: Path, audio, sample_rate: int) -> bool:
        try:
            clip.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=clip.parent, suffix=".wav.tmp")
            os.close(fd)
            try:
                write_wav(tmp, audio, sample_rate)
                os.replace(tmp, clip)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            logger.warning("could not cache preset reference", extra={"clip": str(clip), "error": str(exc)})
            return False
        return True

    @staticmethod
    def _packaged(preset: VoicePreset) -> tuple[ReferenceAudio, str] | None:
        packaged = preset.packaged_reference()
        if packaged is None:
            return None
        clip, transcript = packaged
        return load_reference_audio(clip), transcript
