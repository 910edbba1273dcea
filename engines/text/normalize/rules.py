"""The passes that turn written forms into words, in the order ``PASSES`` lists them.

Each pass is ``(text, locale) -> text`` and replaces only what it recognises; what it
does not recognise is left for the next pass or kept as written. Dates, times, money,
percentages, units and ordinals go before plain numbers, since each needs the digits it
starts from. No pass leaves a digit it could read, so a second run changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .locale import Locale, Noun
from .spell import cardinal, fraction_words, roman_value, year

_LETTER = r"[^\W\d_]"
_DASHES = "\u2212\u2013-"  # "-" last: a literal in a character class
_SIGN = rf"(?P<sign>(?<![\w{_DASHES}])[{_DASHES}])?"
_CAPITAL_START = re.compile(r"\s+[A-ZÀ-ÖØ-Þ]")
_PREVIOUS_WORD = re.compile(r"(\w+)\W*$")

_compiled: dict[str, dict[str, re.Pattern]] = {}


# --- shared helpers ------------------------------------------------------------------------
def number_regex(locale: Locale) -> str:
    """A written number: digits, separators between digit groups (parsed later), no sign.

    It starts only where a number starts (not after a letter, a digit or a digit and its
    separator) and is atomic (never given back in part), so a long run like "1.1.1..."
    costs linear time in every pass.
    """
    spaces = "".join(ch for ch in locale.group_marks if ch.isspace())
    spaced = rf"|[{spaces}](?=[0-9]{{3}}(?![0-9]))" if spaces else ""
    not_inside = rf"(?<![0-9][.,{spaces}])"
    return rf"(?<!\w){not_inside}(?>[0-9]+(?:(?:[.,]{spaced})[0-9]+)*)"


def parse_number(token: str, locale: Locale) -> tuple[int, str | None] | None:
    """(integer part, digits after the decimal mark) as the locale writes numbers, or None."""
    groups = re.escape(locale.group_marks)
    mark = re.escape(locale.decimal_mark)
    grouped = re.fullmatch(rf"([0-9]{{1,3}}(?:[{groups}][0-9]{{3}})+)(?:{mark}([0-9]+))?", token)
    if grouped and len({ch for ch in grouped.group(1) if not ch.isdigit()}) == 1:
        return int(re.sub(r"[^0-9]", "", grouped.group(1))), grouped.group(2)
    plain = re.fullmatch(rf"([0-9]+)(?:{mark}([0-9]+))?", token)
    if plain:
        return int(plain.group(1)), plain.group(2)
    if locale.decimal_mark == ",":  # "3.5" in a comma-decimal language: still a decimal
        dotted = re.fullmatch(r"([0-9]+)\.([0-9]{1,2}|[0-9]{4,})", token)
        if dotted:
            return int(dotted.group(1)), dotted.group(2)
    return None


def spell_number(token: str, locale: Locale, sign: str | None = None, feminine: bool = False) -> str:
    """A written number as words; a token that is no one number (``1.2.3``) piece by piece."""
    parsed = parse_number(token, locale)
    if parsed is None:
        pieces = re.split(r"([.,\s])", token)
        spoken = {".": f" {locale.point_word} ", ",": ", "}
        words = "".join(spoken.get(p, " ") if not p.isdigit() else cardinal(int(p), locale.n2w) for p in pieces)
    else:
        integer, fraction = parsed
        words = cardinal(integer, locale.n2w)
        if feminine and not fraction:
            words = locale.feminine(words)
        if fraction:
            words += f" {locale.point_word} {fraction_words(fraction, locale.n2w, locale.fraction_by_digit)}"
    return f"{locale.minus_word} {words}" if sign else words


def amount_is_one(token: str, locale: Locale) -> bool:
    parsed = parse_number(token, locale)
    return parsed is not None and parsed[0] == 1 and not (parsed[1] or "").strip("0")


def keeps_period(text: str, end: int) -> bool:
    """A dot right before ``end`` also closes the sentence: the text ends, or a capital follows."""
    rest = text[end:]
    return not rest.strip() or bool(_CAPITAL_START.match(rest))


def previous_word(text: str, start: int) -> str:
    found = _PREVIOUS_WORD.search(text[max(0, start - 40):start])
    return found.group(1).lower() if found else ""


def at_sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in ".!?…"


def _patterns(locale: Locale) -> dict[str, re.Pattern]:
    found = _compiled.get(locale.code)
    if found is None:
        found = _compiled[locale.code] = _compile(locale)
    return found


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _compile(locale: Locale) -> dict[str, re.Pattern]:
    number = number_regex(locale)
    months = _alternatives(locale.months)
    symbols = _alternatives(locale.currencies)
    magnitudes = _alternatives(locale.magnitudes)
    meridiem = r"(?:\s?(?P<mer>[AaPp])\.?\s?[Mm](?P<merdot>\.)?(?!\w))"
    patterns = {
        "iso_date": r"(?<![0-9])(?P<y>[0-9]{4})-(?P<a>[0-9]{1,2})-(?P<b>[0-9]{1,2})(?![0-9])",
        "slash_date": r"(?<![0-9/.,])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})(?:/(?P<y>[0-9]{4}|[0-9]{2}))?(?![0-9/])",
        "dot_date": r"(?<![0-9.,])(?P<a>[0-9]{1,2})\.(?P<b>[0-9]{1,2})\.(?P<y>[0-9]{4})(?![0-9])",
        "day_month": rf"(?<![0-9.,])(?P<a>[0-9]{{1,2}})(?:\.|st|nd|rd|th)?\s(?:of\s|de\s)?(?P<month>{months})(?!\w)"
                     rf"(?:,?\s(?P<y>[0-9]{{4}})(?![0-9]))?",
        "month_day": rf"(?<!\w)(?P<month>{months})\s(?P<a>[0-9]{{1,2}})(?:st|nd|rd|th)?(?![0-9\w])"
                     rf"(?:,?\s(?P<y>[0-9]{{4}})(?![0-9]))?",
        "clock": rf"(?<![0-9:.,])(?P<h>[0-9]{{1,2}})[:.](?P<m>[0-9]{{2}})(?![0-9]|:[0-9]){meridiem}?"
                 r"(?P<uhr>\sUhr(?!\w))?",
        "hour_meridiem": rf"(?<![0-9:.,])(?P<h>[0-9]{{1,2}}){meridiem}",
        "hour_letter": r"(?<![\w.,])(?P<h>[0-9]{1,2})h(?P<m>[0-9]{2})?(?!\w)",
        "money_before": rf"(?<!{_LETTER})(?P<sym>{symbols})\s?{_SIGN}(?P<num>{number})"
                        rf"(?:\s(?P<mag>{magnitudes})(?!\w))?",
        "money_after": rf"{_SIGN}(?P<num>{number})(?:\s(?P<mag>{magnitudes}))?\s?(?P<sym>€|£|\$)(?!\w)",
        "percent": rf"{_SIGN}(?P<num>{number})\s?%",
        "unit": rf"{_SIGN}(?P<num>{number})\s?(?P<unit>{_alternatives(locale.units)})(?![\w°])",
        "ordinal": rf"(?<![\w.,])(?P<num>[0-9]+)\.?(?P<suf>{_alternatives(locale.ordinal_suffixes) or '(?!)'})(?!\w)",
        "regnal": rf"(?<!\w)(?P<name>{_LETTER}+)\s(?P<roman>[IVX]+)(?P<suf>er\b|\.)?(?![\w'’])",
        "number": rf"{_SIGN}(?P<num>{number})(?P<next>{_LETTER})?",
        "ampersand": r"(?<=\w)\s?&\s?(?=\w)",
    }
    flags = {"clock": 0, "regnal": 0, "unit": 0}
    compiled = {name: re.compile(source, flags.get(name, re.IGNORECASE)) for name, source in patterns.items()}
    compiled["abbreviations"] = [
        (re.compile(rf"(?<!\w)(?:{a.pattern})" + (r"(?=\s?[0-9])" if a.before_number else r"(?!\w)"),
                    re.IGNORECASE if a.ignore_case else 0), a)
        for a in locale.abbreviations
    ]
    return compiled


# --- the passes ------------------------------------------------------------------------------
def expand_abbreviations(text: str, locale: Locale) -> str:
    for pattern, abbreviation in _patterns(locale)["abbreviations"]:
        def read(m: re.Match, a=abbreviation) -> str:
            words = a.words
            if at_sentence_start(m.string, m.start()):
                words = words[:1].upper() + words[1:]
            if a.may_end_sentence and m.group(0).endswith(".") and keeps_period(m.string, m.end()):
                words += "."
            return words

        text = pattern.sub(read, text)
    return text


def _valid_date(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _full_year(raw: str | None) -> int | None:
    if not raw:
        return None
    value = int(raw)
    if len(raw) == 2:  # "15/03/24": this century up to 49, else the last
        value += 2000 if value < 50 else 1900
    return value


def expand_dates(text: str, locale: Locale) -> str:
    patterns = _patterns(locale)

    def numeric(m: re.Match, day_first: bool) -> str:
        a, b = int(m.group("a")), int(m.group("b"))
        day, month = (a, b) if day_first else (b, a)
        if not _valid_date(day, month) and _valid_date(month, day):
            day, month = month, day  # "15/03" in English: 15 can only be the day
        if not _valid_date(day, month):
            return m.group(0)
        if m.group("y") is None and len(m.group("a")) == 1 and len(m.group("b")) == 1:
            return m.group(0)  # "1/2" is a fraction more often than a date
        return locale.date(day, month, _full_year(m.group("y")), previous_word(m.string, m.start()))

    def iso(m: re.Match) -> str:
        day, month = int(m.group("b")), int(m.group("a"))
        if not _valid_date(day, month):
            return m.group(0)
        return locale.date(day, month, int(m.group("y")), previous_word(m.string, m.start()))

    def named(m: re.Match) -> str:
        day = int(m.group("a"))
        month = next(i for i, name in enumerate(locale.months, 1) if name.lower() == m.group("month").lower())
        if not _valid_date(day, month):
            return m.group(0)
        year_raw = m.group("y")
        return locale.date(day, month, int(year_raw) if year_raw else None, previous_word(m.string, m.start()))

    text = patterns["iso_date"].sub(iso, text)
    text = patterns["slash_date"].sub(lambda m: numeric(m, not locale.month_first), text)
    text = patterns["dot_date"].sub(lambda m: numeric(m, True), text)
    text = patterns["day_month"].sub(named, text)
    return patterns["month_day"].sub(named, text)


def expand_times(text: str, locale: Locale) -> str:
    patterns = _patterns(locale)

    def read(m: re.Match) -> str:
        groups = m.groupdict()
        hour, minute = int(m.group("h")), int(groups.get("m") or 0)
        meridiem = (groups.get("mer") or "").lower() or None
        if minute > 59 or hour > (12 if meridiem else 24):
            return m.group(0)
        if meridiem is None and m.re is patterns["clock"] and ":" not in m.group(0) and not groups.get("uhr"):
            return m.group(0)  # "14.30" alone is a decimal; with "Uhr" it is a time
        words = locale.time(hour, minute, meridiem and f"{meridiem}m")
        if groups.get("merdot") and keeps_period(m.string, m.end()):
            words += "."
        return words

    text = patterns["clock"].sub(read, text)
    text = patterns["hour_meridiem"].sub(read, text)
    if locale.hour_letter_times:
        text = patterns["hour_letter"].sub(read, text)
    return text


def _counted(words: str, noun: Noun, locale: Locale, is_one: bool, exact_million: bool = False) -> str:
    if noun.feminine:
        words = locale.feminine(words)
    words = locale.before_noun(words)
    name = noun.for_amount(is_one)
    return f"{words}{_joiner(locale, name, exact_million)}{name}"


def _joiner(locale: Locale, noun: str, with_of: bool) -> str:
    """What goes before the currency: " de " after "milhões" ("dois milhões de reais"), French "d'euros"."""
    of = locale.of_before_currency
    if not (with_of and of):
        return " "
    if locale.elide_of and noun[:1].lower() in "aeéèêiouyh":
        return f" {of[:-1]}'"
    return f" {of} "


def spell_money(token: str, symbol: str, locale: Locale, sign: str | None = None,
                magnitude: str | None = None) -> str | None:
    currency = locale.currencies.get(symbol) or locale.currencies.get("$")
    parsed = parse_number(token, locale)
    if parsed is None or currency is None:
        return None
    integer, fraction = parsed
    minus = f"{locale.minus_word} " if sign else ""
    if magnitude:
        takes_of = {k.lower(): v for k, v in locale.magnitudes.items()}.get(magnitude.lower(), False)
        joiner = _joiner(locale, currency.unit.plural, takes_of)
        return f"{minus}{spell_number(token, locale)} {magnitude}{joiner}{currency.unit.plural}"
    if fraction and len(fraction) > 2:  # not cents: a decimal amount of the unit
        return f"{minus}{spell_number(token, locale)} {currency.unit.plural}"
    cents = int((fraction or "0").ljust(2, "0"))
    parts = []
    if integer or not cents:
        exact_million = integer >= 10**6 and integer % 10**6 == 0
        parts.append(_counted(cardinal(integer, locale.n2w), currency.unit, locale, integer == 1, exact_million))
    if cents:
        parts.append(_counted(cardinal(cents, locale.n2w), currency.cents, locale, cents == 1))
    return minus + f" {locale.and_word} ".join(parts)


def expand_money(text: str, locale: Locale) -> str:
    patterns = _patterns(locale)

    def read(m: re.Match) -> str:
        groups = m.groupdict()
        words = spell_money(m.group("num"), m.group("sym"), locale, m.group("sign"), groups.get("mag"))
        return m.group(0) if words is None else words

    text = patterns["money_before"].sub(read, text)
    return patterns["money_after"].sub(read, text)


def expand_percentages(text: str, locale: Locale) -> str:
    return _patterns(locale)["percent"].sub(
        lambda m: f"{spell_number(m.group('num'), locale, m.group('sign'))} {locale.percent_word}", text)


def expand_units(text: str, locale: Locale) -> str:
    units = {symbol.lower(): noun for symbol, noun in locale.units.items()}

    def read(m: re.Match) -> str:
        noun = units[m.group("unit").lower()]
        words = spell_number(m.group("num"), locale, m.group("sign"), feminine=noun.feminine)
        is_one = amount_is_one(m.group("num"), locale) and not m.group("sign")
        return f"{locale.before_noun(words)} {noun.for_amount(is_one)}"

    return _patterns(locale)["unit"].sub(read, text)


def expand_ordinals(text: str, locale: Locale) -> str:
    suffixes = {suffix.lower(): form for suffix, form in locale.ordinal_suffixes.items()}

    def read(m: re.Match) -> str:
        number = int(m.group("num"))
        if number > 10**6:
            return m.group(0)
        return locale.ordinal(number, suffixes[m.group("suf").lower()])

    return _patterns(locale)["ordinal"].sub(read, text)


def expand_regnal_numbers(text: str, locale: Locale) -> str:
    """Roman numerals after a name ("João VI", "Henry VIII") and after words like "Chapter"."""

    def read(m: re.Match) -> str:
        name, numeral, suffix = m.group("name"), m.group("roman"), m.group("suf")
        value = roman_value(numeral)
        if value is None or (numeral == "I" and locale.lone_i_is_a_word and not suffix):
            return m.group(0)  # "Then I said": the pronoun, not a numeral
        written_name = m.group(0)[: m.start("roman") - m.start()].rstrip()
        if name.lower() in locale.roman_cardinal_after:
            words = cardinal(value, locale.n2w)
        elif name[0].isupper() and not name.isupper():
            words = locale.regnal(value)
        else:
            return m.group(0)
        tail = "." if suffix == "." and keeps_period(m.string, m.end()) else ""
        return f"{written_name} {words}{tail}"

    return _patterns(locale)["regnal"].sub(read, text)


def expand_numbers(text: str, locale: Locale) -> str:
    def read(m: re.Match) -> str:
        token = m.group("num")
        if (locale.year_after and token.isdigit() and len(token) == 4 and 1100 <= int(token) < 2100
                and not m.group("sign") and previous_word(m.string, m.start()) in locale.year_after):
            words = year(int(token), locale.n2w)
        else:
            words = spell_number(token, locale, m.group("sign"))
        return f"{words} {m.group('next')}" if m.group("next") else words

    return _patterns(locale)["number"].sub(read, text)


def expand_ampersands(text: str, locale: Locale) -> str:
    return _patterns(locale)["ampersand"].sub(f" {locale.ampersand} ", text)


def tidy_spaces(text: str, locale: Locale) -> str:
    return re.sub(r"[ \t]{2,}", " ", text)


PASSES: tuple[Callable[[str, Locale], str], ...] = (
    expand_abbreviations, expand_dates, expand_times, expand_money, expand_percentages, expand_units,
    expand_ordinals, expand_regnal_numbers, expand_numbers, expand_ampersands, tidy_spaces,
)

