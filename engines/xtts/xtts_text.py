"""Text for XTTS-v2's tokenizer: coqui's own cleaning, with a plain reading of numbers where it raises.

coqui-tts expands numbers with num2words (``TTS/tts/layers/xtts/tokenizer.py``), which cannot
read every number in every language XTTS speaks: num2words has no Hindi at all
(``NotImplementedError`` for any digit), no Czech ordinals ("1. května"), refuses Spanish
numbers of 28 digits or more (``OverflowError``) and fails on 40-digit Russian or Czech ones and
some Hungarian decimals (``KeyError``). Such a text is given to the tokenizer with its
numbers already read out as words: as a cardinal where num2words can say it, else digit by digit.
Text that coqui reads fine is passed on unchanged.
"""

from __future__ import annotations

import logging
import re

from ..errors import EngineUnavailableError, InputError

logger = logging.getLogger(__name__)

# What coqui's number expansion raises when num2words cannot say a number in a language.
NUMBER_FAILURES = (NotImplementedError, ArithmeticError, ValueError, LookupError)
# Any run of decimal digits, in any script (Devanagari ones too: int() reads them).
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"[ \t]+")

# Digit names where num2words has no language at all (it covers the other XTTS languages;
# Chinese and Japanese numbers never reach it: coqui reads them its own way).
DIGIT_NAMES: dict[str, tuple[str, ...]] = {
    "hi": ("शून्य", "एक", "दो", "तीन", "चार", "पाँच", "छह", "सात", "आठ", "नौ"),
}
# The package each language's text preparation imports, for a message that names the fix.
LANGUAGE_PACKAGES = {"ja": "cutlet and fugashi[unidic-lite]", "zh": "pypinyin", "ko": "ko-speech-tools"}


def prepare_text(tokenizer, text: str, language: str) -> str:
    """``text`` as XTTS's ``tokenizer.encode`` can take it for ``language`` (an XTTS code: pt, zh-cn, ...)."""
    lang = language.split("-")[0]
    try:
        tokenizer.preprocess_text(text, lang)
        return text
    except NUMBER_FAILURES as exc:
        failure = exc
    except ImportError as exc:
        package = LANGUAGE_PACKAGES.get(lang, getattr(exc, "name", None) or "a package")
        raise EngineUnavailableError(
            f"XTTS-v2 needs {package} to read {language} text: install the pinned requirements.txt") from exc
    plain = read_numbers_plainly(text, lang)
    logger.info("numbers read plainly for XTTS", extra={"language": language, "reason": type(failure).__name__})
    try:
        tokenizer.preprocess_text(plain, lang)
    except NUMBER_FAILURES as exc:  # nothing numeric is left, so this is not about numbers
        logger.warning("XTTS text preparation failed", extra={"language": language, "error": repr(exc)})
        raise InputError(f"XTTS-v2 cannot read this {language} text: try writing it differently") from exc
    return plain


def read_numbers_plainly(text: str, lang: str) -> str:
    """Every run of digits spoken as words: a cardinal number, else digit by digit."""
    def spoken(match: re.Match) -> str:
        return f" {read_number(match.group(0), lang)} "

    return _SPACES.sub(" ", _DIGITS.sub(spoken, text)).strip()


def read_number(digits: str, lang: str) -> str:
    from num2words import num2words

    if lang not in DIGIT_NAMES:
        try:
            return num2words(int(digits), lang=lang)
        except NUMBER_FAILURES:  # too long for num2words in this language: one digit at a time
            pass
    return " ".join(read_digit(int(d), lang) for d in digits)


def read_digit(digit: int, lang: str) -> str:
    from num2words import num2words

    if lang in DIGIT_NAMES:
        return DIGIT_NAMES[lang][digit]
    try:
        return num2words(digit, lang=lang)
    except NUMBER_FAILURES as exc:
        raise InputError(f"XTTS-v2 cannot read the digits in this {lang} text: write the numbers as words") from exc
