"""Errors that cross the engine boundary.

Each error says what is wrong and, where one exists, the fix. The UI turns
``InputError`` into ``gr.Error``; the CLI maps ``InputError`` to exit code 2 and
``NoEngineAvailableError`` to exit code 1.
"""

from __future__ import annotations


class VoiceStudioError(Exception):
    """Base class for every error this package raises on purpose."""


class InputError(VoiceStudioError, ValueError):
    """The request itself is wrong (text, language, preset, profile, reference)."""


class EngineUnavailableError(VoiceStudioError):
    """An engine cannot be loaded: weights missing, bad checkpoint, broken install."""


class WeightsMissingError(EngineUnavailableError):
    """Weights are neither on disk nor downloadable; the message names the variable to set."""


class CheckpointError(EngineUnavailableError):
    """A checkpoint file is unreadable or does not fit the architecture/vocab."""


class NoEngineAvailableError(VoiceStudioError):
    """No engine could serve the request; ``reasons`` maps engine name to why not.

    The message names each engine by its display name (``labels``: name -> "F5-TTS").
    """

    def __init__(self, reasons: dict[str, str], labels: dict[str, str] | None = None):
        self.reasons = dict(reasons)
        labels = labels or {}
        detail = "; ".join(f"{labels.get(name, name)}: {why}" for name, why in self.reasons.items())
        super().__init__(f"no engine could serve the request ({detail})")


class EngineUnloaded(VoiceStudioError):
    """A queued job found its engine unloaded (an Unload ran first); the caller loads it again."""
