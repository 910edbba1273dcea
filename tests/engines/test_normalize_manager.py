"""The text front end in the manager: F5-TTS gets words, XTTS gets the text as typed."""

from __future__ import annotations

import pytest

from engines import EngineManager, SynthesisRequest

SPOKEN = "Custa mil duzentos e trinta e quatro reais e cinquenta e seis centavos, dia quinze de março."


@pytest.fixture
def spy_manager(manager, monkeypatch):
    """A manager on the session's tiny engines, recording the text each engine is handed."""
    fresh = EngineManager(manager.settings, engines=manager.engines)
    seen: list[tuple[str, str]] = []
    for name, engine in fresh.engines.items():
        for method in ("synthesize", "synthesize_batch", "render_scheduled"):  # the last: XTTS's batched path
            original = getattr(engine, method)

            def record(jobs, *rest, original=original, name=name):
                for job in (jobs if isinstance(jobs, (list, tuple)) else [jobs]):
                    seen.append((name, job.text))
                return original(jobs, *rest)

            monkeypatch.setattr(engine, method, record)
    fresh.seen = seen
    return fresh


def dub(engine: str, **kwargs) -> SynthesisRequest:
    return SynthesisRequest(text="Custa R$ 1.234,56, dia 15/03.", language="pt-BR", engine=engine,
                            voice_preset="female_generic", seed=3, **kwargs)


def test_f5_reads_money_and_dates_as_words(spy_manager):
    meta = spy_manager.synthesize(dub("f5tts", allow_fallback=False)).metadata
    assert meta["tts_engine_used"] == "f5tts"
    assert meta["normalized_text"] == SPOKEN
    assert ("f5tts", SPOKEN) in spy_manager.seen


def test_normalisation_can_be_turned_off(spy_manager):
    meta = spy_manager.synthesize(dub("f5tts", allow_fallback=False, text_normalization=False)).metadata
    assert "normalized_text" not in meta
    assert ("f5tts", "Custa R$ 1.234,56, dia 15/03.") in spy_manager.seen


def test_xtts_gets_the_text_as_typed_its_tokenizer_expands_numbers(spy_manager):
    meta = spy_manager.synthesize(dub("xtts", allow_fallback=False)).metadata
    assert meta["tts_engine_used"] == "xtts" and "normalized_text" not in meta
    assert spy_manager.seen and all(text == "Custa R$ 1.234,56, dia 15/03." for _, text in spy_manager.seen)


def test_plain_text_carries_no_normalized_text(spy_manager):
    request = SynthesisRequest(text="Olá, tudo bem?", language="pt-BR", engine="f5tts", voice_preset="female_generic",
                               seed=3, allow_fallback=False)
    assert "normalized_text" not in spy_manager.synthesize(request).metadata
