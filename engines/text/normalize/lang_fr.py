"""French: "1 234,56 €", "15/03/2024", "14h30", "1er", "2e", "M.", "Louis XIV"."""

from __future__ import annotations

from .locale import Abbreviation, Currency, Locale, Noun
from .spell import cardinal, ordinal, replace_word_endings

N2W = "fr"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def feminine(words: str) -> str:
    return replace_word_endings(words, (("un", "une"),))


def read_ordinal(n: int, form: str) -> str:
    if n == 1:
        return "première" if form == "f" else "premier"
    return ordinal(n, N2W)


def read_date(day: int, month: int, year: int | None, before: str) -> str:
    words = f"{'premier' if day == 1 else cardinal(day, N2W)} {MONTHS[month - 1]}"
    return words + (f" {cardinal(year, N2W)}" if year else "")


def read_time(hour: int, minute: int, meridiem: str | None) -> str:
    words = f"{feminine(cardinal(hour, N2W))} {'heure' if hour <= 1 else 'heures'}"
    if minute:
        words += f" {cardinal(minute, N2W)}"
    if meridiem:
        words += " du matin" if meridiem == "am" else " de l'après-midi"
    return words


def read_regnal(n: int) -> str:
    """French: "Louis quatorze", but "François premier"."""
    return "premier" if n == 1 else cardinal(n, N2W)


LOCALE = Locale(
    code="fr", n2w=N2W, decimal_mark=",", group_marks=" \u00a0\u202f.", point_word="virgule",
    fraction_by_digit=False, minus_word="moins", percent_word="pour cent", and_word="et",
    currencies={
        "R$": Currency(Noun("réal", "réaux"), Noun("centavo", "centavos")),
        "US$": Currency(Noun("dollar", "dollars"), Noun("cent", "cents")),
        "$": Currency(Noun("dollar", "dollars"), Noun("cent", "cents")),
        "€": Currency(Noun("euro", "euros"), Noun("centime", "centimes")),
        "£": Currency(Noun("livre", "livres", feminine=True), Noun("penny", "pence")),
    },
    units={
        "km/h": Noun("kilomètre heure", "kilomètres heure"), "km": Noun("kilomètre", "kilomètres"),
        "m²": Noun("mètre carré", "mètres carrés"), "m": Noun("mètre", "mètres"),
        "cm": Noun("centimètre", "centimètres"), "mm": Noun("millimètre", "millimètres"),
        "kg": Noun("kilo", "kilos"), "g": Noun("gramme", "grammes"), "mg": Noun("milligramme", "milligrammes"),
        "l": Noun("litre", "litres"), "ml": Noun("millilitre", "millilitres"), "min": Noun("minute", "minutes", True),
        "°C": Noun("degré Celsius", "degrés Celsius"), "°F": Noun("degré Fahrenheit", "degrés Fahrenheit"),
        "°": Noun("degré", "degrés"),
    },
    magnitudes={"mille": False, "million": True, "millions": True, "milliard": True, "milliards": True},
    abbreviations=(
        Abbreviation(r"n[º°]|no\.", "numéro", before_number=True),
        Abbreviation(r"M\.(?=\s[A-ZÀ-Ý])", "monsieur", ignore_case=False),
        Abbreviation(r"MM\.(?=\s[A-ZÀ-Ý])", "messieurs", ignore_case=False),
        Abbreviation(r"Mme", "madame", ignore_case=False), Abbreviation(r"Mlle", "mademoiselle", ignore_case=False),
        Abbreviation(r"Dr\.?", "docteur", ignore_case=False), Abbreviation(r"Pr\.?", "professeur", ignore_case=False),
        Abbreviation(r"av\.", "avenue"), Abbreviation(r"etc\.", "et cetera", may_end_sentence=True),
    ),
    ordinal_suffixes={"er": "m", "re": "f", "ère": "f", "e": "m", "ème": "m", "eme": "m"},
    ordinal=read_ordinal, date=read_date, time=read_time, regnal=read_regnal, months=MONTHS,
    of_before_currency="de", elide_of=True, hour_letter_times=True, ampersand="et", feminine=feminine,
    roman_cardinal_after=frozenset({"siècle", "chapitre", "partie", "tome", "livre", "acte"}),
)
