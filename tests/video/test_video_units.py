"""The video pipeline's pure parts: cue cutting, speaker clustering, sentence grouping, the
reference choice, the mix's gain and limiter, option checks, and the safe Demucs loader."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import numpy as np
import pytest

from dubbing.subtitles import parse_subtitles
from dubbing.video.steps import cast, cues, mix, speakers, translate
from dubbing.video.options import VideoDubOptions, check_options, parse_speakers, source_language_code
from dubbing.video.state import Cue
from engines.errors import CheckpointError, InputError


# --- cues ---------------------------------------------------------------------------------
def test_regions_join_across_short_pauses_and_cut_at_long_ones():
    spans = cues.join_regions([(1.0, 2.0), (2.2, 3.0), (4.0, 5.0)])
    assert [(s.start_s, s.end_s) for s in spans] == [(1.0, 3.0), (4.0, 5.0)]
    assert spans[0].parts == ((1.0, 2.0), (2.2, 3.0))


def test_no_cue_grows_past_twelve_seconds():
    regions = [(i * 2.0, i * 2.0 + 1.8) for i in range(20)]          # 0.2 s pauses for 40 s
    spans = cues.join_regions(regions)
    assert all(s.seconds <= cues.MAX_CUE_S for s in spans)
    assert len(spans) == 4
    long = cues.join_regions([(0.0, 30.0)])                          # no pause at all: equal pieces
    assert [round(s.seconds, 3) for s in long] == [10.0, 10.0, 10.0]


def test_a_cue_holding_two_sentences_is_split_at_the_pause_nearest_the_sentence_end():
    span = cues.Span(((0.0, 2.0), (2.3, 3.0), (3.3, 6.0)))
    pieces = cues.split_at_sentences(span, "One two three four five six. Seven eight nine ten.")
    assert [(p.start_s, p.end_s, text) for p, text in pieces] == [
        (0.0, 3.0, "One two three four five six."), (3.3, 6.0, "Seven eight nine ten.")]
    assert cues.split_at_sentences(span, "No sentence end here") == [(span, "No sentence end here")]


# --- speakers -----------------------------------------------------------------------------
def _voices(centres: int, per: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(centres, 64))
    rows = np.concatenate([base[i] + noise * rng.normal(size=(per, 64)) for i in range(centres)])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("centres", [2, 3, 4])
def test_auto_count_finds_how_many_voices_there_are(centres):
    labels, detail = speakers.cluster(_voices(centres, 6, 0.25, seed=centres))
    assert detail["count"] == centres
    assert len(set(labels)) == centres
    per = [labels[i * 6:(i + 1) * 6] for i in range(centres)]
    assert all(len(set(group)) == 1 for group in per)               # each voice's cues together
    assert labels[0] == 0                                            # numbered by first appearance


def test_one_voice_stays_one_speaker():
    labels, detail = speakers.cluster(_voices(1, 10, 0.05))
    assert set(labels) == {0} and detail["count"] == 1


def test_a_given_count_is_honoured():
    labels, detail = speakers.cluster(_voices(3, 4, 0.2), count=2)
    assert len(set(labels)) == 2 and detail == {"method": "given", "count": 2}
    assert speakers.cluster(_voices(1, 2, 0.1), count=5)[1]["count"] == 2   # never more than the cues


def test_pyannote_configured_but_absent_names_the_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pyannote(name, *args, **kwargs):  # fault injection: pyannote.audio is not installed
        if name.startswith("pyannote"):
            raise ImportError("No module named 'pyannote'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyannote)
    with pytest.raises(Exception) as err:
        speakers.check_pyannote("pyannote/speaker-diarization-3.1")
    assert f"pip install {speakers.PYANNOTE_PIN}" in str(err.value)
    assert speakers.DIARIZATION_VARIABLE in str(err.value)


# --- translation ----------------------------------------------------------------------------
def test_a_sentence_over_several_cues_is_translated_whole_and_shared_out():
    said = [Cue(0, 1, "I went to the", "S1"), Cue(1, 2, "market yesterday.", "S1"), Cue(2, 3, "Fine.", "S2"),
            Cue(3, 4, "and then", "S2"), Cue(4, 5, "Hello.", "S1")]
    assert translate.sentence_groups(said) == [[0, 1], [2], [3], [4]]
    pieces = translate.share_out("eu fui ao mercado ontem", ["I went to the", "market yesterday."])
    assert pieces == ["eu fui", "ao mercado ontem"]                        # 13 of 30 characters: 2 of 5 words
    assert translate.share_out("sim", ["a", "b"]) == ["sim", ""]


def test_a_translation_file_must_match_cue_by_cue():
    parsed = parse_subtitles(b"1\n00:00:01,000 --> 00:00:02,000\nUm.\n\n2\n00:00:03,000 --> 00:00:04,000\nDois.\n")
    assert translate.match_file(parsed, [Cue(1, 2), Cue(3, 4)]) == ["Um.", "Dois."]
    with pytest.raises(InputError, match="has 2 cue.*video has 3 speech cue"):
        translate.match_file(parsed, [Cue(1, 2), Cue(3, 4), Cue(5, 6)])


# --- options ------------------------------------------------------------------------------
def test_options_are_checked_without_any_model(tmp_path):
    assert source_language_code("auto") is None and source_language_code("pt-BR") == "pt"
    assert source_language_code("English") == "en"
    with pytest.raises(InputError, match="unknown source language 'xx'"):
        check_options(VideoDubOptions(language="pt-BR", source_language="xx"))
    with pytest.raises(InputError, match="unknown language 'klingon'"):
        check_options(VideoDubOptions(language="klingon"))
    for bad in ("0", "-1", "33", "two"):
        with pytest.raises(InputError, match="speakers must"):
            parse_speakers(bad)
    assert parse_speakers("auto") is None and parse_speakers("2") == 2
    with pytest.raises(InputError, match="translation file 'gone.srt' is missing"):
        check_options(VideoDubOptions(language="pt-BR", translation=str(tmp_path / "gone.srt")))
    broken = tmp_path / "broken.srt"
    broken.write_text("1\n00:00:05,000 --> 00:00:01,000\nbackwards\n")
    with pytest.raises(InputError, match="translation file 'broken.srt'"):
        check_options(VideoDubOptions(language="pt-BR", translation=str(broken)))


# --- a voice per speaker --------------------------------------------------------------------
def test_the_reference_is_the_cleanest_six_to_twelve_seconds_of_the_speaker():
    said = [Cue(0, 4, "a", "S1"), Cue(4.3, 8, "b", "S1"), Cue(9, 11, "c", "S2"), Cue(11.5, 15, "d", "S1"),
            Cue(15.2, 22, "e", "S1"), Cue(30, 31, "f", "S1")]
    assert cast.choose_reference(said, "S1") in ([0, 1], [3, 4])           # both 6-12 s: the longer
    cleaner_late = lambda a, b: 20.0 if a >= 11 else 3.0                   # noqa: E731
    assert cast.choose_reference(said, "S1", cleaner_late) == [3, 4]
    assert cast.choose_reference(said, "S2") == [2]                       # only 2 s: the longest there is
    assert cast.stand_ins(said + [Cue(40, 40.5, "g", "S3")]) == {"S3": "S1"}


# --- mix ----------------------------------------------------------------------------------
def test_loudness_is_matched_and_peaks_are_bent_not_clipped():
    rate = 44100
    t = np.arange(rate * 2) / rate
    loud, quiet = 0.5 * np.sin(2 * np.pi * 300 * t), 0.05 * np.sin(2 * np.pi * 300 * t)
    gain = mix.matching_gain_db(mix.loudness(loud, rate), mix.loudness(quiet, rate))
    assert gain == pytest.approx(20.0, abs=0.1)
    assert mix.matching_gain_db(None, -20.0) == 0.0
    block = np.array([[0.5, -0.5], [1.4, -1.4], [0.95, 0.2]], dtype=np.float32)
    limited = mix.soft_limit(block)
    assert np.all(np.abs(limited) < 1.0) and limited[0, 0] == 0.5 and limited[1, 0] > limited[2, 0] > 0.9


# --- Demucs weights, read safely --------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_demucs():
    import torch
    from demucs.htdemucs import HTDemucs

    from devtools.tiny_pipeline_models import DEMUCS_SOURCES, TINY_DEMUCS

    torch.manual_seed(0)
    return HTDemucs(sources=DEMUCS_SOURCES, segment=Fraction(4, 1), **TINY_DEMUCS)


def test_demucs_loads_from_its_hub_layout_and_a_legacy_package(tmp_path, tiny_demucs):
    import torch

    from dubbing.video.steps.demucs_files import load_separator_model
    from devtools.tiny_pipeline_models import build_demucs

    folder = build_demucs(tmp_path / "hub")
    model = load_separator_model(folder)
    assert model.sources == ["drums", "bass", "other", "vocals"] and model.samplerate == 44100
    args, kwargs = tiny_demucs._init_args_kwargs
    package = {"klass": type(tiny_demucs), "args": args, "kwargs": kwargs, "state": tiny_demucs.state_dict(),
               "training_args": {"lr": 3e-4}}
    torch.save(package, tmp_path / "legacy.th")                     # what demucs' own serialize_model writes
    legacy = load_separator_model(tmp_path / "legacy.th")
    assert all(torch.equal(a, b) for a, b in zip(legacy.state_dict().values(), tiny_demucs.state_dict().values()))


def test_demucs_files_naming_other_classes_are_refused(tmp_path, tiny_demucs):
    import torch
    from safetensors.torch import save_file

    from dubbing.video.steps.demucs_files import load_separator_model

    torch.save({"klass": os.system, "args": ["echo pwned"], "kwargs": {}, "state": {}}, tmp_path / "evil.th")
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        load_separator_model(tmp_path / "evil.th")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "evil.safetensors"),
              metadata={"klass": "os.system", "args": json.dumps(["echo pwned"]), "kwargs": "{}"})
    with pytest.raises(CheckpointError, match="names class 'os.system'"):
        load_separator_model(tmp_path / "evil.safetensors")


def test_finding_speech_leaves_torch_its_threads():
    """silero_vad sets torch to one thread when imported; the app's other CPU work keeps its count."""
    import torch

    from dubbing.video.steps.speech import find_speech

    before = torch.get_num_threads()
    assert find_speech(np.zeros(16000, dtype=np.float32)) == []
    assert torch.get_num_threads() == before


def test_a_voices_stage_run_again_after_a_crash_finds_the_voices_it_saved(tmp_path):
    from engines.voices.library import VoiceLibrary

    library = VoiceLibrary(tmp_path / "voices")
    said = [Cue(0, 7, "one two", "S1"), Cue(8, 15, "three four", "S2"), Cue(16, 23, "five six", "S1")]

    def read_clip(start: float, end: float) -> np.ndarray:
        t = np.arange(int((end - start) * 24000)) / 24000
        return (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)

    first = cast.clone_speakers(library, said, read_clip, lambda a, b: 0.0, "talk", "20261206T000000Z-0000abcd", "en")
    again = cast.clone_speakers(library, said, read_clip, lambda a, b: 0.0, "talk", "20261206T000000Z-0000abcd", "en")
    assert {s: v["voice"] for s, v in first["voices"].items()} == {s: v["voice"] for s, v in again["voices"].items()}
    assert sorted(r.name for r in library.records()) == ["talk S1", "talk S2"]
    other = cast.clone_speakers(library, said, read_clip, lambda a, b: 0.0, "talk", "20261206T000001Z-0000dcba", "en")
    assert other["voices"]["S1"]["name"] == "talk S1 0000dcba"                 # another project: its own voices


def test_batched_streaming_separation_matches_demucs_own_apply_model(tmp_path):
    """Segments, overlap and blending as demucs' ``apply_model(split=True)``; only the batching differs."""
    import soundfile as sf
    import torch
    from demucs.apply import apply_model

    from dubbing.video.steps.separate import Separator, separate
    from devtools.tiny_pipeline_models import build_demucs

    rng = np.random.default_rng(0)
    sound = (0.2 * rng.normal(size=(44100 * 8, 2))).astype(np.float32)
    sf.write(tmp_path / "original.flac", sound, 44100, subtype="PCM_16")
    sound, _ = sf.read(tmp_path / "original.flac", dtype="float32")          # what the stage reads
    separator = Separator.from_env("cpu", lambda fn, label: fn(),
                                   environ={"VOICE_STUDIO_SEPARATOR_MODEL": str(build_demucs(tmp_path / "model"))})
    result = separate(separator, tmp_path / "original.flac", tmp_path, (0.0, 1.0))
    model, _ = separator.ensure_loaded()
    with torch.inference_mode():
        stems = apply_model(model, torch.from_numpy(sound.T.copy())[None], shifts=0, split=True, overlap=0.25)[0]
    vocals = stems[model.sources.index("vocals")].numpy().T
    rest = stems.sum(0).numpy().T - vocals
    dialogue, _ = sf.read(tmp_path / result["dialogue"], dtype="float32")
    background, _ = sf.read(tmp_path / result["background"], dtype="float32")
    inner = slice(0, 44100 * 5)          # away from the end, where demucs pads a short last segment with context
    assert dialogue.shape == sound.shape and background.shape == sound.shape
    np.testing.assert_allclose(dialogue[inner], np.clip(vocals[inner], -1, 1), atol=2e-4)
    np.testing.assert_allclose(background[inner], np.clip(rest[inner], -1, 1), atol=2e-4)
