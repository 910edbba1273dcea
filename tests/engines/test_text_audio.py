"""Text splitting, reference cutting with the transcript in step, cross-fades."""

from __future__ import annotations

import numpy as np
import pytest

from engines.audio.waveforms import crossfade_join, crossfade_pieces, cut_at_pause, load_reference_audio, trim_transcript
from engines.errors import InputError
from engines.languages import normalize_language, to_xtts_code
from engines.text.checks import split_text, validate_text


def test_split_packs_sentences_within_the_limit():
    text = "Primeira frase curta. Segunda frase, um pouco maior que a primeira! Terceira? Quarta."
    chunks = split_text(text, 40)
    assert all(len(c) <= 40 for c in chunks)
    assert " ".join(chunks) == text
    assert chunks[0] == "Primeira frase curta."


def test_split_breaks_overlong_sentences_at_clauses_then_words():
    sentence = "uma, " * 30 + "palavra final sem ponto"
    chunks = split_text(sentence, 203)
    assert all(len(c) <= 203 for c in chunks) and len(chunks) >= 1
    words = "x" * 500
    assert [len(c) for c in split_text(words, 200)] == [200, 200, 100]


def test_xtts_portuguese_limit_respected_on_long_text():
    text = " ".join(f"Esta é a frase número {i}, com algumas palavras a mais." for i in range(40))
    assert max(len(c) for c in split_text(text, 203)) <= 203


def test_validate_text_cleans_invisible_characters():
    assert validate_text("  Olá\u200b mundo\u0007 ") == "Olá mundo"
    with pytest.raises(InputError, match="limit is 10"):
        validate_text("a" * 11, max_chars=10)


def test_language_codes():
    assert normalize_language("pt") == "pt-BR" and normalize_language("PT-br") == "pt-BR"
    assert to_xtts_code("pt-BR") == "pt" and to_xtts_code("zh") == "zh-cn"


def test_cut_at_pause_and_transcript_stay_in_step():
    rate = 1000
    speech = np.sin(np.arange(rate * 2) * 0.3).astype(np.float32)  # 2 s
    pause = np.zeros(rate // 2, dtype=np.float32)
    samples = np.concatenate([speech, pause, speech, pause, speech, pause, speech])  # 9.5 s, 8 s voiced
    clip, kept = cut_at_pause(samples, rate, max_seconds=7.0)
    assert len(clip) <= 7 * rate
    assert kept == pytest.approx(0.5, abs=0.05)  # cut in the pause after the second stretch
    transcript = "Primeira parte aqui. Segunda parte aqui. Terceira parte aqui. Quarta parte aqui."
    assert trim_transcript(transcript, kept) == "Primeira parte aqui. Segunda parte aqui."


def test_short_reference_is_not_cut():
    samples = np.ones(500, dtype=np.float32)
    clip, kept = cut_at_pause(samples, 1000, 12.0)
    assert kept == 1.0 and len(clip) == 500
    assert trim_transcript("tudo igual", 1.0) == "tudo igual"


def test_crossfade_join_length_and_continuity():
    a, b = np.ones(1000, dtype=np.float32), np.ones(1000, dtype=np.float32)
    joined = crossfade_join([a, b], 1000, 0.1)
    assert len(joined) == 1900
    np.testing.assert_allclose(joined, 1.0, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_waves_arriving_in_pieces_join_as_the_whole_waves_do(seed):
    """Waves of any length (shorter than the fade too, empty too), cut into pieces anywhere."""
    rng = np.random.default_rng(seed)
    rate, seconds = 1000, 0.05
    waves = [rng.standard_normal(int(rng.choice([0, 7, 30, 49, 50, 51, 120, 400]))).astype(np.float32)
             for _ in range(int(rng.integers(1, 6)))]
    parts = []
    for wave in waves:
        cuts = np.sort(rng.integers(0, len(wave) + 1, size=int(rng.integers(0, 4))))
        pieces = np.split(wave, cuts)
        parts += [(piece, False) for piece in pieces[:-1]] + [(pieces[-1], True)]
    out = list(crossfade_pieces(parts, rate, seconds))
    np.testing.assert_allclose(np.concatenate(out) if out else np.zeros(0), crossfade_join(waves, rate, seconds),
                               atol=1e-6)


def test_a_long_piece_is_handed_out_before_its_wave_ends():
    """Only the cross-fade is held back: a stream's first audio goes out with its first piece."""
    rate, fade = 1000, 50
    handed = crossfade_pieces(iter([(np.ones(400, np.float32), False), (np.ones(400, np.float32), True)]),
                              rate, fade / rate)
    assert len(next(handed)) == 400 - fade


def test_reference_is_mono_resampled_and_hashed(reference_wav):
    ref = load_reference_audio(reference_wav, 24000)
    assert ref.sample_rate == 24000 and ref.samples.ndim == 1
    assert 2.5 < ref.duration_s <= 3.1
    assert len(ref.sha256) == 64
