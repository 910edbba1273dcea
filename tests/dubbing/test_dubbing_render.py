"""Rendering projects on the tiny models: every rung of the ladder, placement, overlaps, re-renders, restarts.

Random tiny models make noise, so these tests assert on what the code controls: where a
line starts, how long it is, which rung fitted it, which files exist and which bytes
stayed the same. Natural lengths come from F5-TTS's text-length rule, so they are fixed.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import soundfile as sf

from dubbing.fitting import DEFAULT_LIMITS
from dubbing.project import ProjectStore
from dubbing.service import DubOptions, Studio
from engines import EngineManager, InputError, Settings, SynthesisRequest
from tests.dubbing_support import presets_dir, srt

TEXT = "a line in a slot of its own, on a tiny model."
SEED = 11


@pytest.fixture(scope="module")
def dub_env(tiny_env, reference_wav, tmp_path_factory):
    return {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, tmp_path_factory.mktemp("p")))}


@pytest.fixture(scope="module")
def dub_manager(dub_env):
    return EngineManager(Settings.from_env({**os.environ, **dub_env}))


@pytest.fixture(scope="module")
def natural_s(dub_manager) -> float:
    result = dub_manager.synthesize(SynthesisRequest(text=TEXT, language="en", engine="f5tts",
                                                     voice_preset="female_generic", seed=SEED))
    return result.duration_s


class CountingSynth:
    def __init__(self, manager):
        self.manager, self.calls, self.lock = manager, [], threading.Lock()

    def __call__(self, request, progress=None):
        with self.lock:
            self.calls.append(request)
        return self.manager.synthesize(request, progress)


@pytest.fixture
def studio(dub_manager, tmp_path):
    synth = CountingSynth(dub_manager)
    studio = Studio(dub_manager, ProjectStore(tmp_path / "projects"), synthesize=synth, threads=8)
    studio.synth = synth
    return studio


def options(**overrides) -> DubOptions:
    return DubOptions(**{"language": "en", "voice": "female_generic", "engine": "f5tts", "seed": SEED, **overrides})


def final_audio(studio, project, index) -> np.ndarray:
    return studio.store.load_take(project, project.line(index).result["final_key"])[0]


@pytest.mark.slow
def test_each_rung_of_the_ladder_is_reached_by_slot_size(studio, natural_s):
    n = natural_s
    cues = [(1.0, 1.0 + n * 1.3, TEXT),                      # natural: room to spare
            (t := 2.0 + n * 1.5, t + n / 1.15, TEXT),         # engine: F5 asked for the slot's length
            (t := t + n * 1.5, t + n / 1.3, TEXT),            # stretch: engine at 1.25x, then time-stretch
            (t := t + n * 1.5, t + n / 1.6, TEXT),            # gap: a silence of n follows
            (t := t + n / 1.6 + n, t + n / 1.6, TEXT)]        # overrun: last cue, nothing after
    project, exported, summary = studio.dub(srt(cues), options())
    assert summary.failed == {} and summary.rendered == [1, 2, 3, 4, 5]
    lines = exported.report["lines"]
    assert [line["fit_method"] for line in lines] == ["natural", "engine", "stretch", "gap", "overrun"]
    for line in lines:
        assert line["tts_engine_used"] == "f5tts" and line["engine_fallback"] is False
        assert line["natural_s"] == pytest.approx(n, abs=0.02)
        assert DEFAULT_LIMITS.total_min <= line["speed_factor"] <= DEFAULT_LIMITS.total_max + 1e-3
        assert line["duration_s"] * DEFAULT_LIMITS.total_max >= line["natural_s"] - 0.005
    natural, engine, stretch, gap, overrun = lines
    assert natural["duration_s"] == pytest.approx(n, abs=0.005) and natural["speed_factor"] == 1.0
    assert engine["duration_s"] <= engine["end"] - engine["start"] + 0.02
    assert project.line(2).result["target_duration_honoured"] is True
    assert stretch["duration_s"] == pytest.approx(stretch["end"] - stretch["start"], abs=0.02)
    assert project.line(3).result["stretch_factor"] > 1.0
    assert gap["duration_s"] > gap["end"] - gap["start"] and gap["overrun_s"] == 0
    assert overrun["speed_factor"] == pytest.approx(1.35, abs=0.01)
    assert overrun["overrun_s"] == pytest.approx(n / 1.35 - (overrun["end"] - overrun["start"]), abs=0.02)
    assert exported.report["totals"]["fit_methods"] == {"natural": 1, "engine": 1, "stretch": 1, "gap": 1,
                                                         "overrun": 1}
    # F5-TTS told each natural length before rendering: every line was rendered once, those it
    # speeds up straight at their fitted length (the gap line is spoken at its natural pace).
    told = [line["natural_from"] == "engine rule" for line in lines]
    assert told == [False, True, True, False, True]
    asked = sorted(bool(r.target_duration_s) for r in studio.synth.calls)
    assert asked == [False, False, True, True, True]
    # Each line starts on its cue's first sample in the exported track (16-bit wav: compare by correlation).
    track, rate = sf.read(exported.files["track_wav"], dtype="float32")
    assert rate == 24000
    assert len(track) == round(lines[-1]["start"] * 24000) + len(final_audio(studio, project, 5))  # extended by the overrun
    for line in lines:
        audio = final_audio(studio, project, line["index"])
        expected = round(line["start"] * 24000)
        assert line["placed_start"] == line["start"]
        window = track[expected - 2400: expected + 2400 + len(audio)]
        found = int(np.argmax(np.correlate(window, audio, mode="valid"))) - 2400
        assert abs(found) <= 240, f"line {line['index']} placed {found} samples off"  # ±10 ms


@pytest.mark.slow
def test_overlaps_are_mixed_and_one_edit_rerenders_one_line(studio, natural_s):
    cues = [(0.5, 0.5 + natural_s * 1.2, TEXT), (0.9, 0.9 + natural_s * 1.2, "a second voice over the first."),
            (5.0 + natural_s, 6.0 + natural_s * 2, "and a third line, alone.")]
    project, exported, _ = studio.dub(srt(cues), options(fit="natural"))
    overlap = exported.report["totals"]["overlaps"]
    assert [o["lines"] for o in overlap] == [[1, 2]]
    assert exported.report["lines"][0]["overlaps_with"] == [2]
    track, mix = sf.read(exported.track.path, dtype="int16")[0], exported.track.mix_gain
    a, b = final_audio(studio, project, 1), final_audio(studio, project, 2)
    start_a, start_b = 12000, round(0.9 * 24000)
    summed = np.zeros(max(start_a + len(a), start_b + len(b)), dtype=np.float32)
    summed[start_a:start_a + len(a)] += a
    summed[start_b:start_b + len(b)] += b
    # The track is 16-bit: the mix, quantised as libsndfile does, to the least significant bit.
    expected = np.round(np.clip(summed * mix, -1, 1) * 32767).astype(np.int32)
    assert np.max(np.abs(track[:len(summed)].astype(np.int32) - expected)) <= 1

    takes = project.outputs and sorted((studio.store.folder(project.id) / "audio").glob("*.wav"))
    before = {p.name: p.read_bytes() for p in takes}
    keys = {i: project.line(i).result["final_key"] for i in (1, 2, 3)}
    calls = len(studio.synth.calls)
    changed = studio.update_lines(project, [{"index": 2, "text": "an edited second line."}])
    assert changed == [2]
    summary = studio.render(project)
    assert summary.rendered == [2] and summary.unchanged == [1, 3]
    assert [r.text for r in studio.synth.calls[calls:]] == ["an edited second line."]
    assert project.line(1).result["final_key"] == keys[1] and project.line(3).result["final_key"] == keys[3]
    assert project.line(2).result["final_key"] != keys[2]
    for name, data in before.items():  # nothing rendered before was rewritten or lost
        assert (studio.store.folder(project.id) / "audio" / name).read_bytes() == data
    studio.export(project)

    # A restart: a new service on the same folder reopens the project as it was; nothing to render.
    reopened_studio = Studio(studio.manager, ProjectStore(studio.store.root), synthesize=studio.synth)
    assert [p["id"] for p in reopened_studio.store.list()] == [project.id]
    reopened = reopened_studio.open(project.id)
    assert [(line.status, line.result["final_key"]) for line in reopened.lines] == \
           [(line.status, line.result["final_key"]) for line in project.lines]
    calls = len(studio.synth.calls)
    assert reopened_studio.render(reopened).unchanged == [1, 2, 3]
    assert len(studio.synth.calls) == calls
    again = reopened_studio.export(reopened)
    first = again.track.path.read_bytes()
    assert studio.export(project).track.path.read_bytes() == first


def test_cancel_keeps_what_was_rendered(studio):
    cancel = threading.Event()
    studio.renderer.threads = 1

    def on_line(event):  # Cancel pressed as line 2 starts: line 1 is done, nothing else may start
        if event.status == "rendering" and event.index == 2:
            cancel.set()

    project = studio.create_project(srt([(0.0, 3.0, "first line."), (3.0, 6.0, "second line."),
                                         (6.0, 9.0, "third line.")]), options())
    summary = studio.render(project, on_line=on_line, cancel=cancel)
    assert summary.rendered == [1] and summary.cancelled == [2, 3]
    reopened = studio.open(project.id)
    assert [line.status for line in reopened.lines] == ["done", "pending", "pending"]
    calls = len(studio.synth.calls)
    summary = studio.render(reopened)
    assert summary.unchanged == [1] and summary.rendered == [2, 3]
    assert len(studio.synth.calls) == calls + 2


@pytest.mark.slow
def test_xtts_lines_are_fitted_with_speed(studio, dub_manager):
    natural = dub_manager.synthesize(SynthesisRequest(text=TEXT, language="en", engine="xtts",
                                                      voice_preset="male_generic", seed=SEED)).duration_s
    project, exported, _ = studio.dub(srt([(0.2, 0.2 + natural / 1.2, TEXT)]),
                                      options(engine="xtts", voice="male_generic"))
    line = exported.report["lines"][0]
    assert line["tts_engine_used"] == "xtts"
    assert line["fit_method"] in ("engine", "stretch") and line["overrun_s"] == 0
    assert 1.0 < line["speed_factor"] <= 1.35 + 1e-3
    asked = [r.speed for r in studio.synth.calls if r.speed is not None]
    assert asked and 1.0 < asked[0] <= 1.25


@pytest.mark.slow
def test_a_line_another_engine_stood_in_for_is_fitted_from_that_take(studio, dub_manager, natural_s, monkeypatch):
    """F5-TTS told the length, then failed: XTTS spoke at its own pace, and that take is fitted with speed."""
    def broken(jobs):
        raise RuntimeError("injected F5 failure")

    monkeypatch.setattr(dub_manager.engines["f5tts"], "synthesize_batch", broken)
    xtts_natural = dub_manager.synthesize(SynthesisRequest(text=TEXT, language="en", engine="xtts",
                                                           voice_preset="female_generic", seed=SEED)).duration_s
    slot = min(natural_s, xtts_natural) / 1.2
    project, exported, summary = studio.dub(srt([(0.2, 0.2 + slot, TEXT)]), options())
    line, result = exported.report["lines"][0], project.line(1).result
    assert summary.failed == {} and line["tts_engine_used"] == "xtts" and line["engine_fallback"] is True
    assert result["natural_from"] == "natural take" and line["natural_s"] == pytest.approx(xtts_natural, abs=0.005)
    assert [bool(r.target_duration_s) for r in studio.synth.calls] == [True, False]
    assert studio.synth.calls[1].speed is not None and studio.synth.calls[1].speed > 1.0
    assert DEFAULT_LIMITS.total_min <= line["speed_factor"] <= DEFAULT_LIMITS.total_max + 1e-3


def test_script_lines_follow_one_another(studio):
    project, exported, _ = studio.dub(b"Maria: bom dia.\nJoao: bom dia, maria.\n", options(language="pt-BR"))
    first, second = exported.report["lines"]
    assert first["placed_start"] == 0.0 and first["fit_method"] == "natural"
    assert second["placed_start"] == pytest.approx(first["duration_s"] + 0.4, abs=0.002)
    assert "Maria: bom dia." in exported.files["subtitles"].read_text()


@pytest.mark.parametrize("overrides, message", [
    ({"speaker_voices": {"Maria": "nobody"}}, "unknown voice 'nobody' for speaker 'Maria'"),
    ({"speaker_voices": {"Pedro": "male_generic"}}, "speaker 'Pedro' in the voice map is not in the subtitles"),
    ({"voice": "nobody"}, "unknown voice 'nobody'"),
    ({"fit": "squeeze"}, "fit 'squeeze' is unknown"),
    ({"language": "xx"}, "language"),
])
def test_bad_project_options_are_refused_before_any_work(studio, overrides, message):
    with pytest.raises(InputError, match=message):
        studio.create_project(srt([(0.0, 1.0, "Maria: hello.")]), options(**overrides))
    assert studio.store.list() == [] and studio.synth.calls == []


def test_line_edits_are_checked(studio):
    project = studio.create_project(srt([(0.0, 1.0, "Maria: hello.")]), options())
    for row, message in [({"index": 1, "start": "00:00:02.000", "end": "00:00:01.000"}, "is not after start"),
                         ({"index": 1, "start": "0", "end": "0"}, "0-length"),
                         ({"index": 1, "text": "   "}, "has no text"),
                         ({"index": 1, "voice": "nobody"}, "unknown voice 'nobody' on line 1"),
                         ({"index": 9}, "not a line of this project")]:
        with pytest.raises(InputError, match=message):
            studio.update_lines(project, [row])
