"""Voice presets for dubbing: one name, the same voice on both engines where possible.

On XTTS a preset names a studio speaker from ``speakers_xtts.pth``. F5-TTS needs a
reference clip and its transcript; the manager resolves them in this order:
1. ``$VOICE_STUDIO_PRESETS_DIR/<preset>.wav`` + ``<preset>.txt`` (the user's own clip);
2. a clip rendered once by XTTS from the same studio speaker and cached, so the preset
   sounds like the same person on both engines;
3. a clip shipped in the f5-tts package, where one fits the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class VoicePreset:
    name: str
    label: str
    xtts_speaker: str
    # A sentence per language for the XTTS-rendered F5 reference (its transcript).
    reference_texts: dict[str, str] = field(default_factory=dict)
    packaged_clip: str | None = None  # path inside the f5_tts package
    packaged_text: str | None = None

    def reference_text_for(self, language: str) -> tuple[str, str]:
        """(language, sentence) to render: the requested language if known, else English."""
        if language in self.reference_texts:
            return language, self.reference_texts[language]
        return "en", self.reference_texts["en"]

    def packaged_reference(self) -> tuple[Path, str] | None:
        if self.packaged_clip is None or self.packaged_text is None:
            return None
        return Path(str(files("f5_tts").joinpath(self.packaged_clip))), self.packaged_text


_SENTENCES_F = {
    "en": "Hello, and welcome. Today I will read this text for you, clearly and calmly.",
    "pt-BR": "Olá, seja bem-vindo. Hoje eu vou ler este texto para você, com calma e clareza.",
    "es": "Hola, bienvenido. Hoy voy a leer este texto para ti, con calma y claridad.",
}
_SENTENCES_M = {
    "en": "Good evening. Let me tell you a short story, one sentence at a time.",
    "pt-BR": "Boa noite. Deixe-me contar uma pequena história, uma frase de cada vez.",
    "es": "Buenas noches. Déjame contarte una pequeña historia, una frase a la vez.",
}

PRESETS: dict[str, VoicePreset] = {
    p.name: p
    for p in (
        VoicePreset("female_generic", "Female (generic)", "Ana Florence", _SENTENCES_F,
                    "infer/examples/basic/basic_ref_en.wav",
                    "Some call me nature, others call me mother nature."),
        VoicePreset("male_generic", "Male (generic)", "Damien Black", _SENTENCES_M),
    )
}
DEFAULT_PRESET = "female_generic"


def get_preset(name: str | None) -> VoicePreset:
    key = (name or DEFAULT_PRESET).strip()
    if key not in PRESETS:
        raise InputError(f"unknown voice preset {name!r}; available presets: " + ", ".join(PRESETS))
    return PRESETS[key]
