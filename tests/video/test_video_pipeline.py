"""A generated two-voice video dubbed end to end on tiny real-format models (CPU).

The source: two espeak-ng voices saying four known sentences at known times over a tone
bed, with a test-pattern picture. Every stage runs its real library: ffmpeg, Silero VAD,
Demucs (tiny HTDemucs), Whisper and WavLM (tiny, random), NLLB-style translation (tiny,
random), the voice library, F5-TTS (tiny) through the Studio, pyloudnorm. Random weights
make the words noise, so the tests check timing, speakers, files and streams, not words.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import soundfile as sf

from devtools.tiny_pipeline_models import pipeline_models
from tests.video.video_source import session_source

pytestmark = pytest.mark.slow


def make_dubber(tmp_path, env: dict[str, str], monkeypatch):
    from dubbing import ProjectStore, Studio
    from dubbing.video import VideoDubber
    from engines import EngineManager, Settings
    from engines.voices.library import VoiceLibrary

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    manager = EngineManager(Settings.from_env(), library=VoiceLibrary(tmp_path / "voices"))
    studio = Studio(manager, ProjectStore.in_output_dir(tmp_path / "outputs"), threads=4)
    return VideoDubber(studio)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return session_source(tmp_path_factory)


@pytest.fixture(scope="module")
def video_env(tmp_path_factory, tiny_env):
    return {**tiny_env, **pipeline_models(tmp_path_factory)}


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory, source, video_env):
    """The video dubbed into pt-BR with two speakers; the first attempt crashes in the mix stage
    (a fault injected), the second resumes it. Returns (result, events of the second attempt)."""
    from dubbing.video import VideoDubOptions, stages

    folder = tmp_path_factory.mktemp("dubbed")
    with pytest.MonkeyPatch.context() as mp:
        dubber = make_dubber(folder, video_env, mp)
        options = VideoDubOptions(language="pt-BR", speakers=2, seed=7)
        real_mix = stages.run_mix

        def crash(job):  # fault injection: the process dies while mixing
            raise RuntimeError("killed while mixing")

        mp.setattr(stages, "run_mix", crash)
        with pytest.raises(RuntimeError, match="killed while mixing"):
            dubber.dub(source.video, options)
        mp.setattr(stages, "run_mix", real_mix)
        events = []
        result = dubber.dub(source.video, options, events.append)
    return result, events, dubber


def test_a_crash_resumes_at_the_stage_it_stopped_in(dubbed):
    result, events, _ = dubbed
    assert {e.stage for e in events} == {"mix"}          # every earlier stage was kept from the first attempt
    assert result.state.finished


def test_each_sentence_gets_a_cue_at_its_onset_and_none_sits_on_the_bed_alone(dubbed, source):
    result, _, _ = dubbed
    lines = result.report["lines"]
    starts = [line["start"] for line in lines]
    for onset in source.onsets:
        assert min(abs(s - onset) for s in starts) <= 0.2, (onset, starts)
    for line in lines:  # every cue overlaps one of the sentences
        assert any(line["start"] < end and line["end"] > onset for onset, end in zip(source.onsets, source.ends)), line
    assert len(lines) == len(source.onsets)


def test_two_speakers_each_with_their_own_saved_voice(dubbed):
    result, _, dubber = dubbed
    report = result.report
    assert report["speakers"] == ["S1", "S2"]
    voices = {line["speaker"]: line["voice"] for line in report["lines"]}
    assert set(voices) == {"S1", "S2"} and voices["S1"] != voices["S2"]
    library = dubber.models.manager.voices.library
    saved = {record.id: record for record in library.records()}
    for speaker, voice in voices.items():
        assert voice in saved and saved[voice].name.endswith(speaker)
        assert saved[voice].transcript == report["voices"][speaker]["transcript"]


def test_the_report_holds_each_line_and_what_each_stage_did(dubbed):
    result, _, _ = dubbed
    report = result.report
    for line in report["lines"]:
        assert line["status"] == "done" and line["source_text"] and line["text"]
        assert {"start", "end", "speaker", "voice", "fit_method", "speed_factor", "natural_s"} <= set(line)
    assert report["separation"]["status"] == "separated"
    assert report["pipeline"]["mix"]["method"] == "over separated background"
    assert report["pipeline"]["translate"]["mode"] == "model"
    assert result.files["report"].is_file()
    saved = json.loads(result.files["report"].read_text())
    assert saved["kind"] == "video" and len(saved["lines"]) == len(report["lines"])


def _probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", str(path)],
                         capture_output=True, check=True, timeout=60).stdout
    return json.loads(out)


def _video_hash(path) -> str:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "streamhash",
                          "-hash", "sha256", "-"], capture_output=True, check=True, timeout=60).stdout
    return out.decode().strip().split("=", 1)[1]


def test_the_mp4_keeps_the_frames_and_carries_the_new_sound_as_its_default_track(dubbed, source):
    result, _, _ = dubbed
    mp4 = result.files["video"]
    assert _video_hash(mp4) == _video_hash(source.video)               # copied, not re-encoded
    info = _probe(mp4)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 2 and audio[0]["disposition"]["default"] == 1 and audio[1]["disposition"]["default"] == 0
    assert abs(float(info["format"]["duration"]) - source.seconds) <= 0.35
    track, rate = sf.read(result.files["track"], dtype="float32")
    original, original_rate = sf.read(source.wav, dtype="float32")
    assert abs(len(track) / rate - source.seconds) <= 0.35
    assert rate == 44100 and track.ndim == 2
    import numpy as np

    from engines.audio.waveforms import resample

    mono = resample(track.mean(axis=1), rate, original_rate)[: len(original)]
    assert np.corrcoef(mono, original[: len(mono)])[0, 1] < 0.9           # new sound, not the original


def test_an_edited_line_rerenders_alone(dubbed):
    result, _, dubber = dubbed
    studio = dubber.models.studio
    project = studio.open(result.project.id)
    line = project.lines[0]
    from dubbing.subtitles import format_time

    row = {"index": line.index, "start": format_time(line.start_ms, "."), "end": format_time(line.end_ms, "."),
           "speaker": line.speaker, "text": "ola mundo."}                          # the table's row, one cell changed
    assert studio.update_lines(project, [row]) == [line.index]
    rerun = dubber.rerun(project.id, "render")
    render = rerun.state.result("render")
    assert render["rendered"] == [line.index] and len(render["unchanged"]) == len(project.lines) - 1
    first = rerun.report["lines"][0]
    assert first["text"] == "ola mundo." and first["speaker"] == line.speaker and rerun.files["video"].is_file()


def test_a_translation_file_that_cannot_be_matched_says_both_counts(dubbed, tmp_path):
    from engines.errors import InputError

    result, _, dubber = dubbed
    short = tmp_path / "short.srt"
    short.write_text("1\n00:00:01,000 --> 00:00:02,000\nUm.\n\n2\n00:00:03,000 --> 00:00:04,000\nDois.\n")
    with pytest.raises(InputError, match=r"translation file has 2 cue\(s\) but the video has 4 speech cue\(s\)"):
        dubber.rerun(result.project.id, "translate", {"translation": str(short)})
    project, state = dubber.open(result.project.id)
    assert state.next_stage == "translate" and "voices" in state.results    # kept: a fixed file resumes there
    restored = dubber.rerun(result.project.id, "translate", {"translation": "model"})
    assert restored.state.finished and not restored.failed


def test_an_audio_file_without_separation_weights_is_dubbed_in_its_own_words(tmp_path, source, video_env, monkeypatch):
    from dubbing.video.api import dub_video

    env = {k: v for k, v in video_env.items() if k != "VOICE_STUDIO_SEPARATOR_MODEL"}
    monkeypatch.delenv("VOICE_STUDIO_SEPARATOR_MODEL", raising=False)
    dubber = make_dubber(tmp_path, env, monkeypatch)
    out = dub_video(dubber, str(source.wav), "en", source_language="en", speakers="1", translation="none")
    assert out.video is None and out.failed == {}
    assert out.summary["separation"] == "skipped"
    assert any("VOICE_STUDIO_SEPARATOR_MODEL" in note for note in out.summary["notes"])
    report = json.loads(open(out.report).read())
    assert report["pipeline"]["mix"]["method"] == "original ducked under the dub"
    assert all(line["text"] == line["source_text"] for line in report["lines"])     # none keeps the words
    track, rate = sf.read(out.track)
    assert abs(len(track) / rate - source.seconds) <= 0.35
    assert "-->" in open(out.source_subtitles).read() and "-->" in open(out.dubbed_subtitles).read()
