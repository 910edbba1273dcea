"""English: "$1,234.56", "03/15/2024", "2:30 pm", "1st", "Dr.", "Henry VIII", "in 1998"."""

from __future__ import annotations

from .locale import Abbreviation, Currency, Locale, Noun
from .spell import cardinal, ordinal, year

N2W = "en"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
CENT = Noun("cent", "cents")


def read_date(day: int, month: int, year_value: int | None, before: str) -> str:
    words = f"{MONTHS[month - 1]} {ordinal(day, N2W)}"
    return words + (f" {year(year_value, N2W)}" if year_value else "")


def read_time(hour: int, minute: int, meridiem: str | None) -> str:
    """"2:30 pm": two thirty PM; "2:05": two oh five; "9:00": nine o'clock; "14:00": fourteen hundred."""
    words = cardinal(hour, N2W)
    if minute:
        words += f" {'oh ' if minute < 10 else ''}{cardinal(minute, N2W)}"
    elif meridiem is None:
        words += " hundred" if hour > 12 else " o'clock"
    return words + (f" {meridiem.upper()}" if meridiem else "")


def read_regnal(n: int) -> str:
    words = ordinal(n, N2W)
    return f"the {words[:1].upper()}{words[1:]}"


LOCALE = Locale(
    code="en", n2w=N2W, decimal_mark=".", group_marks=",", point_word="point", fraction_by_digit=True,
    minus_word="minus", percent_word="percent", and_word="and",
    currencies={
        "R$": Currency(Noun("real", "reais"), Noun("centavo", "centavos")),
        "US$": Currency(Noun("dollar", "dollars"), CENT),
        "$": Currency(Noun("dollar", "dollars"), CENT),
        "€": Currency(Noun("euro", "euros"), CENT),
        "£": Currency(Noun("pound", "pounds"), Noun("penny", "pence")),
    },
    units={
        "km/h": Noun("kilometer per hour", "kilometers per hour"), "mph": Noun("mile per hour", "miles per hour"),
        "km": Noun("kilometer", "kilometers"), "m²": Noun("square meter", "square meters"),
        "m": Noun("meter", "meters"), "cm": Noun("centimeter", "centimeters"),
        "mm": Noun("millimeter", "millimeters"), "kg": Noun("kilogram", "kilograms"),
        "g": Noun("gram", "grams"), "mg": Noun("milligram", "milligrams"), "lb": Noun("pound", "pounds"),
        "l": Noun("liter", "liters"), "ml": Noun("milliliter", "milliliters"), "min": Noun("minute", "minutes"),
        "°C": Noun("degree Celsius", "degrees Celsius"), "°F": Noun("degree Fahrenheit", "degrees Fahrenheit"),
        "°": Noun("degree", "degrees"),
    },
    magnitudes={"thousand": False, "million": False, "billion": False, "trillion": False},
    abbreviations=(
        Abbreviation(r"No\.", "number", ignore_case=False, before_number=True),
        Abbreviation(r"Mr\.", "Mister", ignore_case=False), Abbreviation(r"Mrs\.", "Missus", ignore_case=False),
        Abbreviation(r"Ms\.", "Miz", ignore_case=False), Abbreviation(r"Dr\.", "Doctor", ignore_case=False),
        Abbreviation(r"Prof\.", "Professor", ignore_case=False), Abbreviation(r"Jr\.", "Junior", ignore_case=False),
        Abbreviation(r"vs\.", "versus"), Abbreviation(r"approx\.", "approximately"),
        Abbreviation(r"e\.g\.", "for example"), Abbreviation(r"i\.e\.", "that is"),
        Abbreviation(r"etc\.", "et cetera", may_end_sentence=True),
    ),
    ordinal_suffixes={"st": "m", "nd": "m", "rd": "m", "th": "m"},
    ordinal=lambda n, form: ordinal(n, N2W), date=read_date, time=read_time, regnal=read_regnal, months=MONTHS,
    month_first=True, lone_i_is_a_word=True,
    roman_cardinal_after=frozenset({"war", "chapter", "part", "volume", "act", "phase", "type", "class",
                                    "section", "article", "book", "level", "stage", "episode", "season"}),
    year_after=frozenset({"in", "since", "from", "until", "till", "by", "year", "circa", "before", "after"}),
)
