"""A text front end for TTS engines that read text as written (F5-TTS): numbers and symbols as words.

``normalize_text(text, language)`` turns what a reader says differently from what is
written into words, with ``num2words`` for every number:

- numbers with the language's decimal mark and thousands separators ("1.234,56", "1,234.56");
- money (R$, US$, $, €, £, with "milhões"/"million" after the amount), percentages;
- ordinals (1º, 2ª, 1st, 3er, 1er, 2e), dates (15/03/2024, 2024-03-15, 15.03.2024, "am 3. März"),
  times (14h30, 14:30, 2:30 pm, 14:30 Uhr);
- abbreviations (Sr., Sra., Dr., Dra., etc., nº, z. B., ...), Roman numerals after names
  (João VI, Henry VIII), units after numbers (km, kg, °C, ...).

Languages: pt-BR, en, es, fr, de (``NORMALIZED_LANGUAGES``); other languages pass through
unchanged. The function is pure and total: anything it cannot read stays as written, and
running it on its own output changes nothing.
"""

from __future__ import annotations

from ...errors import InputError
from ...languages import normalize_language
from . import lang_de, lang_en, lang_es, lang_fr, lang_pt
from .locale import Locale
from .rules import PASSES

LOCALES: dict[str, Locale] = {loc.code: loc for loc in (lang_pt.LOCALE, lang_en.LOCALE, lang_es.LOCALE,
                                                          lang_fr.LOCALE, lang_de.LOCALE)}
NORMALIZED_LANGUAGES: tuple[str, ...] = tuple(LOCALES)


def locale_for(language: str) -> Locale | None:
    try:
        return LOCALES.get(normalize_language(language))
    except InputError:
        return None


def normalize_text(text: str, language: str) -> str:
    """``text`` with numbers, money, dates, times, units and abbreviations written as words."""
    locale = locale_for(language)
    if locale is None or not text:
        return text
    for step in PASSES:
        text = step(text, locale)
    return text.strip()


__all__ = ["NORMALIZED_LANGUAGES", "normalize_text"]
