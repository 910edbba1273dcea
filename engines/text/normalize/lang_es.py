"""Spanish: "1.234,56 €", "15/03/2024", "14:30", "1º", "3er", "Sr.", "Felipe VI"."""

from __future__ import annotations

from .locale import Abbreviation, Currency, Locale, Noun
from .spell import cardinal, ordinal, replace_word_endings

N2W = "es"
MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre")
CENTAVO = Noun("centavo", "centavos")


def feminine(words: str) -> str:
    return replace_word_endings(words, (("ientos", "ientas"), ("uno", "una"), ("ún", "una"), ("un", "una")))


def before_noun(words: str) -> str:
    """"uno" is "un" before a noun: "un dólar", "veintiún euros"."""
    return replace_word_endings(words, (("veintiuno", "veintiún"), ("uno", "un")))


def read_ordinal(n: int, form: str) -> str:
    words = ordinal(n, N2W)
    if form == "f":
        return replace_word_endings(words, (("o", "a"),))
    if form == "short":  # "1er", "3er": primer, tercer
        return replace_word_endings(words, (("primero", "primer"), ("tercero", "tercer")))
    return words


def read_date(day: int, month: int, year: int | None, before: str) -> str:
    words = f"{'primero' if day == 1 else cardinal(day, N2W)} de {MONTHS[month - 1]}"
    return words + (f" de {cardinal(year, N2W)}" if year else "")


def read_time(hour: int, minute: int, meridiem: str | None) -> str:
    words = feminine(cardinal(hour, N2W))
    words += f" y {cardinal(minute, N2W)}" if minute else (" hora" if hour == 1 else " horas")
    if meridiem:
        words += " de la mañana" if meridiem == "am" else " de la tarde"
    return words


def read_regnal(n: int) -> str:
    return ordinal(n, N2W) if n <= 10 else cardinal(n, N2W)


LOCALE = Locale(
    code="es", n2w=N2W, decimal_mark=",", group_marks=".", point_word="coma", fraction_by_digit=False,
    minus_word="menos", percent_word="por ciento", and_word="con",
    currencies={
        "R$": Currency(Noun("real", "reales"), CENTAVO),
        "US$": Currency(Noun("dólar", "dólares"), CENTAVO),
        "$": Currency(Noun("dólar", "dólares"), CENTAVO),
        "€": Currency(Noun("euro", "euros"), Noun("céntimo", "céntimos")),
        "£": Currency(Noun("libra", "libras", feminine=True), Noun("penique", "peniques")),
    },
    units={
        "km/h": Noun("kilómetro por hora", "kilómetros por hora"), "km": Noun("kilómetro", "kilómetros"),
        "m²": Noun("metro cuadrado", "metros cuadrados"), "m": Noun("metro", "metros"),
        "cm": Noun("centímetro", "centímetros"), "mm": Noun("milímetro", "milímetros"),
        "kg": Noun("kilo", "kilos"), "g": Noun("gramo", "gramos"), "mg": Noun("miligramo", "miligramos"),
        "l": Noun("litro", "litros"), "ml": Noun("mililitro", "mililitros"), "min": Noun("minuto", "minutos"),
        "°C": Noun("grado centígrado", "grados centígrados"),
        "ºC": Noun("grado centígrado", "grados centígrados"),
        "°F": Noun("grado Fahrenheit", "grados Fahrenheit"), "°": Noun("grado", "grados"),
    },
    magnitudes={"mil": False, "millón": True, "millones": True, "billón": True, "billones": True},
    abbreviations=(
        Abbreviation(r"n[º°]|n\.º|núm\.", "número", before_number=True),
        Abbreviation(r"Sr\.", "señor"), Abbreviation(r"Sra\.", "señora"), Abbreviation(r"Srta\.", "señorita"),
        Abbreviation(r"Dr\.", "doctor"), Abbreviation(r"Dra\.", "doctora"),
        Abbreviation(r"Ud\.", "usted"), Abbreviation(r"Uds\.", "ustedes"),
        Abbreviation(r"Av\.", "avenida"), Abbreviation(r"pág\.", "página", before_number=True),
        Abbreviation(r"etc\.", "etcétera", may_end_sentence=True),
    ),
    ordinal_suffixes={"º": "m", "ª": "f", "er": "short", "ero": "m", "era": "f"},
    ordinal=read_ordinal, date=read_date, time=read_time, regnal=read_regnal, months=MONTHS,
    of_before_currency="de", ampersand="y", feminine=feminine, before_noun=before_noun,
    roman_cardinal_after=frozenset({"siglo", "capítulo", "parte", "volumen", "tomo", "libro", "acto"}),
)
