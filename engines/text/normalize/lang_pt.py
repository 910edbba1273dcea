"""Brazilian Portuguese: "R$ 1.234,56", "15/03/2024", "14h30", "3º", "Sr.", "João VI"."""

from __future__ import annotations

from .locale import Abbreviation, Currency, Locale, Noun
from .spell import cardinal, ordinal, replace_word_endings

N2W = "pt_BR"
MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
          "novembro", "dezembro")
CENTAVO = Noun("centavo", "centavos")


def feminine(words: str) -> str:
    """"um" -> "uma", "dois" -> "duas", "duzentos" -> "duzentas" (numbers before a feminine noun)."""
    return replace_word_endings(words, (("entos", "entas"), ("dois", "duas"), ("um", "uma")))


def read_ordinal(n: int, form: str) -> str:
    words = ordinal(n, N2W)
    return replace_word_endings(words, (("o", "a"),)) if form == "f" else words


def read_date(day: int, month: int, year: int | None, before: str) -> str:
    words = f"{'primeiro' if day == 1 else cardinal(day, N2W)} de {MONTHS[month - 1]}"
    return words + (f" de {cardinal(year, N2W)}" if year else "")


def read_time(hour: int, minute: int, meridiem: str | None) -> str:
    words = f"{feminine(cardinal(hour, N2W))} {'hora' if hour == 1 else 'horas'}"
    if minute:
        words += f" e {cardinal(minute, N2W)} {'minuto' if minute == 1 else 'minutos'}"
    if meridiem:
        words += " da manhã" if meridiem == "am" else " da tarde"
    return words


def read_regnal(n: int) -> str:
    """Portuguese reads I-X as ordinals ("João sexto") and the rest as cardinals ("Luís catorze")."""
    return ordinal(n, N2W) if n <= 10 else cardinal(n, N2W)


LOCALE = Locale(
    code="pt-BR", n2w=N2W, decimal_mark=",", group_marks=".", point_word="vírgula", fraction_by_digit=False,
    minus_word="menos", percent_word="por cento", and_word="e",
    currencies={
        "R$": Currency(Noun("real", "reais"), CENTAVO),
        "US$": Currency(Noun("dólar", "dólares"), CENTAVO),
        "$": Currency(Noun("dólar", "dólares"), CENTAVO),
        "€": Currency(Noun("euro", "euros"), CENTAVO),
        "£": Currency(Noun("libra", "libras", feminine=True), Noun("pêni", "pence")),
    },
    units={
        "km/h": Noun("quilômetro por hora", "quilômetros por hora"), "km": Noun("quilômetro", "quilômetros"),
        "m²": Noun("metro quadrado", "metros quadrados"), "m": Noun("metro", "metros"),
        "cm": Noun("centímetro", "centímetros"), "mm": Noun("milímetro", "milímetros"),
        "kg": Noun("quilo", "quilos"), "g": Noun("grama", "gramas"), "mg": Noun("miligrama", "miligramas"),
        "l": Noun("litro", "litros"), "ml": Noun("mililitro", "mililitros"), "min": Noun("minuto", "minutos"),
        "°C": Noun("grau Celsius", "graus Celsius"), "ºC": Noun("grau Celsius", "graus Celsius"),
        "°F": Noun("grau Fahrenheit", "graus Fahrenheit"), "°": Noun("grau", "graus"),
    },
    magnitudes={"mil": False, "milhão": True, "milhões": True, "bilhão": True, "bilhões": True,
                "trilhão": True, "trilhões": True},
    abbreviations=(
        Abbreviation(r"n[º°]|n\.º", "número", before_number=True),
        Abbreviation(r"Sr\.", "senhor"), Abbreviation(r"Sra\.", "senhora"), Abbreviation(r"Srta\.", "senhorita"),
        Abbreviation(r"Dr\.", "doutor"), Abbreviation(r"Dra\.", "doutora"),
        Abbreviation(r"Prof\.", "professor"), Abbreviation(r"Profa\.", "professora"),
        Abbreviation(r"Av\.", "avenida"), Abbreviation(r"pág\.", "página", before_number=True),
        Abbreviation(r"tel\.", "telefone"), Abbreviation(r"etc\.", "etcétera", may_end_sentence=True),
    ),
    ordinal_suffixes={"º": "m", "ª": "f"},
    ordinal=read_ordinal, date=read_date, time=read_time, regnal=read_regnal, months=MONTHS,
    of_before_currency="de", hour_letter_times=True, ampersand="e", feminine=feminine,
    roman_cardinal_after=frozenset({"século", "capítulo", "parte", "volume", "tomo", "livro", "ato"}),
)
