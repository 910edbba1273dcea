"""German: "1.234,56 €", "15.03.2024", "am 3. März", "14:30 Uhr", "Dr.", "z. B.", "Ludwig XIV."."""

from __future__ import annotations

from .locale import Abbreviation, Currency, Locale, Noun
from .spell import cardinal, ordinal, replace_word_endings, year

N2W = "de"
MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
          "November", "Dezember")
# After these words a date's ordinal takes the dative ending: "am fünfzehnten März".
DATIVE_BEFORE = frozenset({"am", "vom", "zum", "im", "dem", "beim", "seit", "ab", "bis"})


def before_noun(words: str) -> str:
    """"eins" is "ein" before a noun: "ein Euro", "hundertein Dollar"."""
    return replace_word_endings(words, (("eins", "ein"),))


def read_date(day: int, month: int, year_value: int | None, before: str) -> str:
    day_words = ordinal(day, N2W) + ("n" if before in DATIVE_BEFORE else "")
    words = f"{day_words} {MONTHS[month - 1]}"
    return words + (f" {year(year_value, N2W)}" if year_value else "")


def read_time(hour: int, minute: int, meridiem: str | None) -> str:
    words = f"{before_noun(cardinal(hour, N2W))} Uhr"
    if minute:
        words += f" {cardinal(minute, N2W)}"
    if meridiem:
        words += " morgens" if meridiem == "am" else " nachmittags"
    return words


def read_regnal(n: int) -> str:
    words = ordinal(n, N2W)
    return f"der {words[:1].upper()}{words[1:]}"


LOCALE = Locale(
    code="de", n2w=N2W, decimal_mark=",", group_marks=".", point_word="Komma", fraction_by_digit=True,
    minus_word="minus", percent_word="Prozent", and_word="und",
    currencies={
        "R$": Currency(Noun("Real", "Reais"), Noun("Centavo", "Centavos")),
        "US$": Currency(Noun("Dollar", "Dollar"), Noun("Cent", "Cent")),
        "$": Currency(Noun("Dollar", "Dollar"), Noun("Cent", "Cent")),
        "€": Currency(Noun("Euro", "Euro"), Noun("Cent", "Cent")),
        "£": Currency(Noun("Pfund", "Pfund"), Noun("Penny", "Pence")),
    },
    units={
        "km/h": Noun("Kilometer pro Stunde", "Kilometer pro Stunde"), "km": Noun("Kilometer", "Kilometer"),
        "m²": Noun("Quadratmeter", "Quadratmeter"), "m": Noun("Meter", "Meter"),
        "cm": Noun("Zentimeter", "Zentimeter"), "mm": Noun("Millimeter", "Millimeter"),
        "kg": Noun("Kilogramm", "Kilogramm"), "g": Noun("Gramm", "Gramm"), "mg": Noun("Milligramm", "Milligramm"),
        "l": Noun("Liter", "Liter"), "ml": Noun("Milliliter", "Milliliter"), "min": Noun("Minute", "Minuten"),
        "°C": Noun("Grad Celsius", "Grad Celsius"), "°F": Noun("Grad Fahrenheit", "Grad Fahrenheit"),
        "°": Noun("Grad", "Grad"),
    },
    magnitudes={"Tausend": False, "Million": False, "Millionen": False, "Milliarde": False, "Milliarden": False},
    abbreviations=(
        Abbreviation(r"Nr\.", "Nummer", before_number=True),
        Abbreviation(r"Hr\.", "Herr", ignore_case=False),
        Abbreviation(r"Fr\.(?=\s[A-ZÄÖÜ])", "Frau", ignore_case=False),
        Abbreviation(r"Dr\.", "Doktor"), Abbreviation(r"Prof\.", "Professor"),
        Abbreviation(r"z\.\s?B\.", "zum Beispiel"), Abbreviation(r"d\.\s?h\.", "das heißt"),
        Abbreviation(r"bzw\.", "beziehungsweise"), Abbreviation(r"ca\.", "circa"),
        Abbreviation(r"Str\.", "Straße", may_end_sentence=True),
        Abbreviation(r"usw\.", "und so weiter", may_end_sentence=True),
    ),
    ordinal_suffixes={},
    ordinal=lambda n, form: ordinal(n, N2W), date=read_date, time=read_time, regnal=read_regnal, months=MONTHS,
    ampersand="und", before_noun=before_noun,
    roman_cardinal_after=frozenset({"kapitel", "teil", "band", "akt"}),
    year_after=frozenset({"jahr", "jahre", "seit", "anno", "bis", "von", "ab"}),
)
