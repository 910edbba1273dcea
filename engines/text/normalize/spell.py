"""Numbers as words: ``num2words`` wrapped so that no input can make it raise.

Every function here is pure. Amounts arrive as ``Decimal`` (never float, so "0,1" stays
exactly one tenth); integers too long to be a quantity (phone numbers, ids) are read
digit by digit, as people read them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import num2words

# Longer digit strings are identifiers, not quantities: read them digit by digit.
MAX_QUANTITY_DIGITS = 15


@lru_cache(maxsize=4096)
def cardinal(n: int, lang: str) -> str:
    """``n`` as words in ``lang`` (a num2words code), without num2words' thousands commas."""
    if abs(n) >= 10**MAX_QUANTITY_DIGITS:
        return digit_by_digit(str(abs(n)), lang) if n >= 0 else f"- {digit_by_digit(str(-n), lang)}"
    return _tidy(num2words(n, lang=lang))


@lru_cache(maxsize=1024)
def ordinal(n: int, lang: str) -> str:
    """``n`` as an ordinal (masculine where the language has gender)."""
    if n <= 0 or n >= 10**MAX_QUANTITY_DIGITS:
        return cardinal(n, lang)
    return _tidy(num2words(n, lang=lang, to="ordinal"))


@lru_cache(maxsize=512)
def year(n: int, lang: str) -> str:
    """``n`` read as a year (English "nineteen ninety-eight", German "neunzehnhundert...")."""
    if not 0 < n < 10000:
        return cardinal(n, lang)
    return _tidy(num2words(n, lang=lang, to="year"))


def digit_by_digit(digits: str, lang: str) -> str:
    return " ".join(cardinal(int(d), lang) for d in digits if d.isdigit())


def fraction_words(fraction: str, lang: str, by_digit: bool) -> str:
    """The digits after the decimal mark: one by one, or as a number ("catorze" for ",14").

    Leading zeros are always read one by one ("zero cinco"), since "05" as a number loses them.
    """
    if by_digit or fraction.startswith("0") or len(fraction) > 3:
        return digit_by_digit(fraction, lang)
    return cardinal(int(fraction), lang)


def _tidy(words: str) -> str:
    return re.sub(r"\s*,\s*", " ", words).strip()


def roman_value(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral, or None ("IIII", "VX" are not numerals)."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    if not numeral or any(ch not in values for ch in numeral):
        return None
    total = 0
    for index, ch in enumerate(numeral):
        value = values[ch]
        if index + 1 < len(numeral) and values[numeral[index + 1]] > value:
            total -= value
        else:
            total += value
    return total if to_roman(total) == numeral else None


def to_roman(n: int) -> str:
    if not 0 < n < 4000:
        return ""
    table = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
             (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = []
    for value, letters in table:
        while n >= value:
            out.append(letters)
            n -= value
    return "".join(out)


def replace_word_endings(words: str, endings: tuple[tuple[str, str], ...]) -> str:
    """Apply the first matching (ending -> replacement) to each word: gender and apocope forms."""
    out = []
    for word in words.split(" "):
        for old, new in endings:
            if word.endswith(old):
                word = word[: len(word) - len(old)] + new
                break
        out.append(word)
    return " ".join(out)
