"""Every language the app offers, through XTTS's real text preparation and a tiny XTTS model.

coqui-tts prepares text per language (numbers through num2words, Japanese through cutlet,
Chinese through pypinyin, Korean through ko-speech-tools); numbers it cannot expand are read
plainly by ``engines.xtts.xtts_text``. The tiny model declares all 17 languages; its BPE vocab
knows few characters, so most tokens are [UNK]: what is checked is that nothing raises and
audio comes out, on both the accelerated and the upstream inference path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from engines import EngineManager, InputError, Settings
from engines.errors import EngineUnavailableError
from engines.languages import XTTS_CODES
from engines.profiles import get_profile
from engines.types import EngineJob, Voice
from engines.xtts.engine import XttsEngine
from engines.xtts.xtts_text import DIGIT_NAMES, prepare_text, read_number
from devtools.tiny_models import XTTS_ALL_LANGUAGES, build_xtts_dir

ROOT = Path(__file__).resolve().parents[2]

# One sentence per language, with the numbers people write (dates, ordinals, counts).
SENTENCES = {
    "en": "On the 3rd of May, 42 people came.", "es": "Tengo 123456789012345678901234567890 euros.",
    "fr": "Le 21 juin, 3 amis.", "de": "Am 1. Mai kamen 12 Gäste.", "it": "Ho 33 anni.",
    "pt-BR": "Olá, são 12 pessoas.", "pl": "Mam 5 kotów.", "tr": "Saat 7 oldu.", "ru": "Мне 9 лет.",
    "nl": "Ik heb 10 boeken.", "cs": "Dne 1. května 2024 jsem přišel.", "ar": "عندي 5 كتب.",
    "zh-CN": "我有123本书。", "ja": "今日は2024年5月1日です。", "hu": "3 almám van.",
    "ko": "사과가 3개 있어요.", "hi": "मेरे पास 45 किताबें और १२ कलम हैं।",
}


def test_every_offered_language_has_a_sentence():
    assert set(SENTENCES) == set(XTTS_CODES)
    assert {XTTS_CODES[code] for code in SENTENCES} == set(XTTS_ALL_LANGUAGES)


@pytest.fixture(scope="module")
def all_languages_dir(tmp_path_factory) -> Path:
    return build_xtts_dir(tmp_path_factory.mktemp("xtts_all_languages") / "xtts", languages=XTTS_ALL_LANGUAGES,
                          max_audio_tokens=16)


@pytest.fixture(scope="module", params=["auto", "off"], ids=["accelerated", "upstream"])
def xtts_manager(request, all_languages_dir, tiny_env) -> EngineManager:
    settings = Settings.from_env({**os.environ, **tiny_env, "XTTS_MODEL": str(all_languages_dir)})
    manager = EngineManager(settings, engines={"xtts": XttsEngine(settings.xtts, "cpu", accel=request.param)})
    assert manager.ensure_loaded("xtts") is None
    return manager


@pytest.fixture(scope="module")
def tokenizer(all_languages_dir):
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer

    return VoiceBpeTokenizer(vocab_file=str(all_languages_dir / "vocab.json"))


def _job(language: str, text: str) -> EngineJob:
    return EngineJob(text=text, language=language, profile=get_profile("xtts_balanced"), speed=1.0, seed=5,
                     voice=Voice(id="female_generic", kind="preset", speaker="Ana Florence"))


@pytest.mark.parametrize("language", sorted(XTTS_CODES))
def test_one_sentence_per_offered_language_on_tiny_xtts(xtts_manager, language):
    assert language in xtts_manager.languages()
    engine = xtts_manager.engines["xtts"]
    output = xtts_manager.on_device(lambda: engine.synthesize(_job(language, SENTENCES[language])))
    assert output.audio.dtype == np.float32 and output.audio.size > 0 and np.isfinite(output.audio).all()


@pytest.mark.parametrize("language,text,spoken", [
    ("hi", "मेरे पास 45 किताबें और १२ कलम हैं।", ["चार पाँच", "एक दो"]),  # num2words has no Hindi
    ("cs", "Dne 1. května 2024 jsem přišel.", ["jedna", "dva tisíce dvacet čtyři"]),  # no Czech ordinals
    ("es", "Tengo 123456789012345678901234567890 euros.", ["uno dos tres cuatro", "nueve cero euros"]),  # overflow
])
def test_numbers_coqui_cannot_expand_are_read_plainly(tokenizer, language, text, spoken):
    with pytest.raises((NotImplementedError, OverflowError)):
        tokenizer.encode(text.lower(), language)  # coqui's own expansion, unchanged
    prepared = prepare_text(tokenizer, text, language)
    assert not re.search(r"\d", prepared)
    for words in spoken:
        assert words in prepared
    assert tokenizer.encode(prepared.lower(), language)


NUMBERS_PEOPLE_WRITE = ["9" * 5, "9" * 25, "9" * 28, "9" * 40, "9" * 60, "1.", "1st", "21.", "3,5", "1.000.000",
                        "12,000", "$5", "5€", "£3.50", "1/2", "10%", "3.14159", "0", "007", "१२३"]


@pytest.mark.parametrize("code", XTTS_ALL_LANGUAGES)
def test_any_number_in_any_language_gets_tokens(tokenizer, code):
    for number in NUMBERS_PEOPLE_WRITE:
        text = f"a {number} b."
        assert tokenizer.encode(prepare_text(tokenizer, text, code).lower(), code), (code, number)


def test_text_coqui_reads_passes_unchanged(tokenizer):
    for language, text in (("es", "Tengo 12 euros y 3,5 litros."), ("en", "The 3rd of May."), ("ja", "今日は。")):
        assert prepare_text(tokenizer, text, language) == text


def test_every_xtts_language_can_read_any_number():
    for code in XTTS_ALL_LANGUAGES:
        lang = code.split("-")[0]
        if lang in ("zh", "ja"):
            continue  # coqui reads Chinese numbers itself; cutlet reads Japanese ones
        assert read_number("7", lang) and read_number("9" * 40, lang), code
    assert read_number("45", "hi") == " ".join(DIGIT_NAMES["hi"][d] for d in (4, 5))


def test_a_missing_language_package_names_the_fix(tokenizer, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cutlet", None)  # as on an install without it
    fresh = type(tokenizer)(vocab_file=None)  # its cutlet is imported on first Japanese text
    with pytest.raises(EngineUnavailableError, match="cutlet and fugashi"):
        prepare_text(fresh, "今日は。", "ja")


def test_every_package_an_offered_language_imports_is_pinned():
    pinned = {line.split("==")[0].split("[")[0].strip().lower()
              for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    for package in ("cutlet", "fugashi", "unidic-lite", "pypinyin", "ko-speech-tools", "num2words"):
        assert package in pinned, f"{package} is needed by an offered language; pin it in requirements.txt"


def test_unreadable_text_is_input_error_not_an_exception_name(tokenizer, monkeypatch):
    def refuse(text, lang):
        raise NotImplementedError()

    monkeypatch.setattr(tokenizer, "preprocess_text", refuse)  # a fault: coqui refuses even plain words
    with pytest.raises(InputError, match="XTTS-v2 cannot read this cs text"):
        prepare_text(tokenizer, "Dobrý den.", "cs")
