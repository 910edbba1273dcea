"""The F5-TTS text front end: written forms in, words out, per language (pure functions)."""

from __future__ import annotations

import pytest

from engines.text.normalize import NORMALIZED_LANGUAGES, normalize_text

CASES = [
    # --- pt-BR -------------------------------------------------------------------------------
    ("pt-BR", "Custa R$ 1.234,56.", "Custa mil duzentos e trinta e quatro reais e cinquenta e seis centavos."),
    ("pt-BR", "Chega em 15/03.", "Chega em quinze de março."),
    ("pt-BR", "Ficou em 3º lugar.", "Ficou em terceiro lugar."),
    ("pt-BR", "Subiu 50%.", "Subiu cinquenta por cento."),
    ("pt-BR", "A 2ª vez.", "A segunda vez."),
    ("pt-BR", "O 21º andar.", "O vigésimo primeiro andar."),
    ("pt-BR", "Nasceu em 15/03/2024.", "Nasceu em quinze de março de dois mil e vinte e quatro."),
    ("pt-BR", "Data: 2024-03-15.", "Data: quinze de março de dois mil e vinte e quatro."),
    ("pt-BR", "Foi em 1/5/2023.", "Foi em primeiro de maio de dois mil e vinte e três."),
    ("pt-BR", "Às 14h30.", "Às catorze horas e trinta minutos."),
    ("pt-BR", "Abre às 9h.", "Abre às nove horas."),
    ("pt-BR", "Começa 1h.", "Começa uma hora."),
    ("pt-BR", "São 2:05.", "São duas horas e cinco minutos."),
    ("pt-BR", "O Sr. Silva e a Sra. Costa.", "O senhor Silva e a senhora Costa."),
    ("pt-BR", "Dr. Souza chegou.", "Doutor Souza chegou."),
    ("pt-BR", "A Dra. Lima, nº 5.", "A doutora Lima, número cinco."),
    ("pt-BR", "Maçãs, peras etc.", "Maçãs, peras etcétera."),
    ("pt-BR", "Dom João VI chegou.", "Dom João sexto chegou."),
    ("pt-BR", "Luís XIV e o século XXI.", "Luís catorze e o século vinte e um."),
    ("pt-BR", "Andei 5 km e 1 km.", "Andei cinco quilômetros e um quilômetro."),
    ("pt-BR", "Pesa 1,5 kg.", "Pesa um vírgula cinco quilos."),
    ("pt-BR", "Fez 25 °C.", "Fez vinte e cinco graus Celsius."),
    ("pt-BR", "Fez -3 °C.", "Fez menos três graus Celsius."),
    ("pt-BR", "Custa R$ 0,50.", "Custa cinquenta centavos."),
    ("pt-BR", "Custa R$ 1,00.", "Custa um real."),
    ("pt-BR", "Valeu R$1.000.000,00.", "Valeu um milhão de reais."),
    ("pt-BR", "R$ 2 milhões.", "dois milhões de reais."),
    ("pt-BR", "Custou US$ 21.", "Custou vinte e um dólares."),
    ("pt-BR", "Custou £ 2.", "Custou duas libras."),
    ("pt-BR", "Custou 20€.", "Custou vinte euros."),
    ("pt-BR", "Tem 1.234 pessoas.", "Tem mil duzentos e trinta e quatro pessoas."),
    ("pt-BR", "Mede 3,14 m.", "Mede três vírgula catorze metros."),
    ("pt-BR", "Foram 0,05 segundos.", "Foram zero vírgula zero cinco segundos."),
    ("pt-BR", "Itens 1,2,3.", "Itens um, dois, três."),
    # --- en -----------------------------------------------------------------------------------
    ("en", "It costs $1,234.56.", "It costs one thousand two hundred and thirty-four dollars and fifty-six cents."),
    ("en", "Only $1.", "Only one dollar."),
    ("en", "Pay £1.01.", "Pay one pound and one penny."),
    ("en", "A $5 million deal.", "A five million dollars deal."),
    ("en", "On 03/15/2024.", "On March fifteenth twenty twenty-four."),
    ("en", "On 15/03.", "On March fifteenth."),
    ("en", "On March 3rd, 2021.", "On March third twenty twenty-one."),
    ("en", "At 2:30 pm.", "At two thirty PM."),
    ("en", "At 9:05.", "At nine oh five."),
    ("en", "At 10:00.", "At ten o'clock."),
    ("en", "At 5 p.m. We left.", "At five PM. We left."),
    ("en", "The 1st and 22nd.", "The first and twenty-second."),
    ("en", "Up 50%.", "Up fifty percent."),
    ("en", "Pi is 3.14.", "Pi is three point one four."),
    ("en", "Dr. Smith vs. Mr. Jones.", "Doctor Smith versus Mister Jones."),
    ("en", "Apples, pears, etc. Then more.", "Apples, pears, et cetera. Then more."),
    ("en", "Henry VIII was king.", "Henry the Eighth was king."),
    ("en", "World War II ended.", "World War two ended."),
    ("en", "Born in 1998.", "Born in nineteen ninety-eight."),
    ("en", "About 1998 people.", "About one thousand nine hundred and ninety-eight people."),
    ("en", "It was -5 °C.", "It was minus five degrees Celsius."),
    ("en", "No. 7 please.", "Number seven please."),
    ("en", "Tom & Jerry.", "Tom and Jerry."),
    # --- es -----------------------------------------------------------------------------------
    ("es", "Cuesta 1.234,56 €.", "Cuesta mil doscientos treinta y cuatro euros con cincuenta y seis céntimos."),
    ("es", "Cuesta 21 €.", "Cuesta veintiún euros."),
    ("es", "El 1er día y el 3er piso.", "El primer día y el tercer piso."),
    ("es", "La 1ª vez, el 2º.", "La primera vez, el segundo."),
    ("es", "El 15/03/2024.", "El quince de marzo de dos mil veinticuatro."),
    ("es", "A las 14:30.", "A las catorce y treinta."),
    ("es", "El Sr. Pérez y la Dra. Ruiz.", "El señor Pérez y la doctora Ruiz."),
    ("es", "Felipe VI y Alfonso XIII.", "Felipe sexto y Alfonso trece."),
    ("es", "Subió un 50%.", "Subió un cincuenta por ciento."),
    ("es", "Cuesta 200 £.", "Cuesta doscientas libras."),
    ("es", "Recorrió 1 km.", "Recorrió un kilómetro."),
    # --- fr -----------------------------------------------------------------------------------
    ("fr", "Il coûte 1 234,56 €.", "Il coûte mille deux cent trente-quatre euros et cinquante-six centimes."),
    ("fr", "Le 1er mars.", "Le premier mars."),
    ("fr", "La 1re fois, la 2e fois.", "La première fois, la deuxième fois."),
    ("fr", "À 14h30.", "À quatorze heures trente."),
    ("fr", "Il est 1h.", "Il est une heure."),
    ("fr", "Le 15/03/2024.", "Le quinze mars deux mille vingt-quatre."),
    ("fr", "Louis XIV et François Ier.", "Louis quatorze et François premier."),
    ("fr", "Voici M. Dupont et Mme Martin.", "Voici monsieur Dupont et madame Martin."),
    ("fr", "Hausse de 3,5 %.", "Hausse de trois virgule cinq pour cent."),
    ("fr", "Un budget de 1 000 000 €.", "Un budget de un million d'euros."),
    # --- de -----------------------------------------------------------------------------------
    ("de", "Es kostet 1.234,56 €.", "Es kostet eintausendzweihundertvierunddreißig Euro und sechsundfünfzig Cent."),
    ("de", "Es kostet 1 €.", "Es kostet ein Euro."),
    ("de", "Am 15.03.2024.", "Am fünfzehnten März zweitausendvierundzwanzig."),
    ("de", "Am 3. März.", "Am dritten März."),
    ("de", "Um 14:30 Uhr.", "Um vierzehn Uhr dreißig."),
    ("de", "Dr. Müller, z. B. heute.", "Doktor Müller, zum Beispiel heute."),
    ("de", "Ludwig XIV. war König.", "Ludwig der Vierzehnte war König."),
    ("de", "Im Jahr 1998.", "Im Jahr neunzehnhundertachtundneunzig."),
    ("de", "Es sind 12,5 %.", "Es sind zwölf Komma fünf Prozent."),
    ("de", "Nr. 7 bitte.", "Nummer sieben bitte."),
]

# Text a reader says as written: no language may change it.
UNCHANGED = [
    ("pt-BR", "Olá, tudo bem? Eu vi o filme ontem, e você?"),
    ("pt-BR", "Então, Maria disse: vamos embora!"),
    ("en", "Then I said: I think so, and I left."),
    ("en", "Washington DC is MIX and CIVIL, isn't it?"),
    ("es", "¿Dónde está la biblioteca? Allí."),
    ("fr", "C'est la vie, n'est-ce pas ?"),
    ("de", "Guten Morgen, wie geht es Ihnen?"),
    ("en", "F5-TTS, MP3 and H2O stay as written."),
]


def test_at_least_sixty_cases_across_five_languages():
    assert len(CASES) >= 60
    assert {language for language, _, _ in CASES} == set(NORMALIZED_LANGUAGES) == {"pt-BR", "en", "es", "fr", "de"}


@pytest.mark.parametrize(("language", "written", "spoken"), CASES)
def test_reads_written_forms_as_words(language, written, spoken):
    assert normalize_text(written, language) == spoken


@pytest.mark.parametrize(("language", "written", "spoken"), CASES)
def test_no_double_expansion(language, written, spoken):
    once = normalize_text(written, language)
    assert normalize_text(once, language) == once


@pytest.mark.parametrize(("language", "text"), UNCHANGED)
def test_text_without_numbers_is_unchanged(language, text):
    assert normalize_text(text, language) == text


@pytest.mark.parametrize("language", NORMALIZED_LANGUAGES)
def test_plain_text_is_unchanged_in_every_language(language):
    text = "Hello, Maria! Where is the station? Go left, then right; it's near."
    assert normalize_text(text, language) == text


@pytest.mark.parametrize("language", ["ja", "zh-CN", "it", "klingon", ""])
def test_other_languages_pass_through(language):
    text = "Custa R$ 1.234,56 em 15/03."
    assert normalize_text(text, language) == text


@pytest.mark.parametrize("text", ["9" * 60, "1" + ".000" * 40, "R$ " + "9" * 30, "😀 2 🚀", "½ ² ³ ٣", "--5",
                                  "%%%", "1/2/3/4/5", "1." * 2500, "12:99", "31/02/2024", "99º", "Pedro IIII", "a" * 3000 + " 5"])
def test_hostile_input_never_raises_and_stays_stable(text):
    once = normalize_text(text, "pt-BR")
    assert isinstance(once, str) and once
    assert normalize_text(once, "pt-BR") == once


def test_long_digit_strings_are_read_digit_by_digit():
    assert normalize_text("9" * 20, "en") == " ".join(["nine"] * 20)
