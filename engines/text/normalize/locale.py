"""What a language's tables hold: the data and the few phrasing rules that differ per language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Noun:
    """A unit or a currency name: singular, plural, and whether numbers agree in the feminine."""

    singular: str
    plural: str
    feminine: bool = False

    def for_amount(self, is_one: bool) -> str:
        return self.singular if is_one else self.plural


@dataclass(frozen=True)
class Currency:
    unit: Noun
    cents: Noun


@dataclass(frozen=True)
class Abbreviation:
    """``pattern`` (a regex for the abbreviation itself) read as ``words``.

    ``before_number``: only when a number follows ("nº 5"). ``may_end_sentence``: its dot
    is kept when it closes the sentence ("... etc.").
    """

    pattern: str
    words: str
    ignore_case: bool = True
    before_number: bool = False
    may_end_sentence: bool = False


@dataclass(frozen=True)
class Locale:
    code: str                      # the app's language code, e.g. pt-BR
    n2w: str                       # num2words' code, e.g. pt_BR
    decimal_mark: str              # "," or "."
    group_marks: str               # characters that separate groups of three digits
    point_word: str                # the decimal mark read aloud
    fraction_by_digit: bool        # "3.14": "three point one four" (True) or "três vírgula catorze"
    minus_word: str
    percent_word: str
    and_word: str                  # between units and cents
    currencies: Mapping[str, Currency]
    units: Mapping[str, Noun]
    magnitudes: Mapping[str, bool]  # "milhões" may follow an amount ("R$ 2 milhões"); True: "de" follows it
    abbreviations: tuple[Abbreviation, ...]
    ordinal_suffixes: Mapping[str, str]     # written suffix -> form ("m", "f", "short")
    ordinal: Callable[[int, str], str]      # (n, form) -> words
    date: Callable[[int, int, int | None, str], str]  # (day, month, year, word before) -> words
    time: Callable[[int, int, str | None], str]       # (hour, minute, "am"/"pm"/None) -> words
    regnal: Callable[[int], str]                      # a Roman numeral after a name
    months: tuple[str, ...]
    month_first: bool = False                         # 03/15 is March 15 (en), else day first
    of_before_currency: str | None = None             # "um milhão de reais": "de"
    hour_letter_times: bool = False                   # "14h30"
    ampersand: str = "and"
    elide_of: bool = False                            # French "d'euros" for "de euros"
    lone_i_is_a_word: bool = False                    # English "I": never read as a numeral
    feminine: Callable[[str], str] = lambda words: words
    before_noun: Callable[[str], str] = lambda words: words   # es "uno" -> "un", de "eins" -> "ein"
    roman_cardinal_after: frozenset[str] = field(default_factory=frozenset)  # "Chapter IV": four
    year_after: frozenset[str] = field(default_factory=frozenset)            # "in 1998": a year
