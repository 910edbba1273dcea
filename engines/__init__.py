"""Voice Studio's engine layer: F5-TTS and XTTS-v2 behind one small manager API.

    from engines import EngineManager, SynthesisRequest
    manager = EngineManager.from_env()
    result = manager.synthesize(SynthesisRequest(text="Olá!", language="pt-BR", engine="f5tts",
                                                 voice_preset="female_generic"))
"""

from .errors import (
    CheckpointError,
    EngineUnavailableError,
    InputError,
    NoEngineAvailableError,
    VoiceStudioError,
    WeightsMissingError,
)
from .manager import EngineManager
from .voices.presets import PRESETS, get_preset
from .profiles import (
    DEFAULT_PROFILE,
    PROFILES_BY_ENGINE,
    is_profile_compatible,
    map_quality_profile_for_fallback,
    suggest_alternative_profile,
)
from .report import EngineChoice, SynthesisReport
from .settings import Settings
from .types import ENGINE_NAMES, SynthesisRequest, SynthesisResult, SynthesisStream

__all__ = [
    "CheckpointError", "EngineUnavailableError", "InputError", "NoEngineAvailableError",
    "VoiceStudioError", "WeightsMissingError", "EngineManager", "PRESETS", "get_preset", "DEFAULT_PROFILE",
    "PROFILES_BY_ENGINE", "is_profile_compatible", "map_quality_profile_for_fallback",
    "suggest_alternative_profile", "Settings", "ENGINE_NAMES", "SynthesisRequest", "SynthesisResult",
    "SynthesisStream", "SynthesisReport", "EngineChoice",
]
