"""Language codes: BCP-47-style codes outside, each engine's own codes inside."""

from __future__ import annotations

from .errors import InputError

# XTTS-v2's 17 languages, as BCP-47-style code -> XTTS code.
XTTS_CODES: dict[str, str] = {
    "en": "en", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt-BR": "pt",
    "pl": "pl", "tr": "tr", "ru": "ru", "nl": "nl", "cs": "cs", "ar": "ar",
    "zh-CN": "zh-cn", "ja": "ja", "hu": "hu", "ko": "ko", "hi": "hi",
}

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
    "pt-BR": "Portuguese (Brazil)", "pl": "Polish", "tr": "Turkish", "ru": "Russian",
    "nl": "Dutch", "cs": "Czech", "ar": "Arabic", "zh-CN": "Chinese (Mandarin)",
    "ja": "Japanese", "hu": "Hungarian", "ko": "Korean", "hi": "Hindi",
}

# Spellings people type that mean one of the codes above.
_ALIASES: dict[str, str] = {
    "pt": "pt-BR", "pt-br": "pt-BR", "pt_br": "pt-BR",
    "zh": "zh-CN", "zh-cn": "zh-CN", "zh_cn": "zh-CN",
    "en-us": "en", "en-gb": "en", "en_us": "en", "en_gb": "en",
}
_BY_LOWER = {code.lower(): code for code in LANGUAGE_NAMES}


def normalize_language(code: str) -> str:
    """Return the canonical code for ``code`` or raise ``InputError`` listing the valid ones."""
    key = (code or "").strip().lower()
    if not key:
        raise InputError("language is empty; choose one of: " + ", ".join(LANGUAGE_NAMES))
    canonical = _ALIASES.get(key) or _BY_LOWER.get(key)
    if canonical is None:
        raise InputError(
            f"unknown language {code!r}; known languages: " + ", ".join(LANGUAGE_NAMES)
        )
    return canonical


def to_xtts_code(language: str) -> str:
    return XTTS_CODES[normalize_language(language)]


def from_xtts_code(xtts_code: str) -> str | None:
    for canonical, code in XTTS_CODES.items():
        if code == xtts_code:
            return canonical
    return None
