"""The Studio as an editor, below the UI: retime, split, merge, takes, timeline data, two-track MP4s.

Edits are checked on projects in memory (pure functions) and through ``Studio`` on the
tiny F5-TTS model (real renders), so "a retimed line renders again alone" and "a new take
keeps the old one" are measured on real takes and real files.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dubbing import media
from dubbing.editor import editing, takes
from dubbing.project import Line, Project, ProjectStore, Settings
from dubbing.service import DubOptions, Studio
from dubbing.editor.timeline import NO_SPEAKER, PEAKS_PER_S, peaks_from_base64, timeline_data
from engines import EngineManager, InputError, Settings as EngineSettings
from tests.dubbing_support import make_video, presets_dir, srt

CUES = [(0.5, 2.0, "Maria: one two three four."), (2.5, 3.5, "Maria: five six."), (4.0, 5.0, "Joao: seven.")]


def memory_project(timed: bool = True) -> Project:
    settings = Settings(language="en", default_voice="female_generic", engine="f5tts", seed=5)
    lines = [Line(1, 1000, 3000, "one two three four", "A", source_text="um dois tres quatro"),
             Line(2, 3500, 4000, "five six", "A"), Line(3, 4500, 5000, "seven", "B")]
    if not timed:
        for line in lines:
            line.start_ms = line.end_ms = None
    return Project("20261201T000000Z-00000000", "p", "2026-12-01T00:00:00", "srt" if timed else "script",
                   settings, lines)


def test_split_shares_words_by_time_and_renumbers():
    project = memory_project()
    first, second = editing.split(project, 1, 2500)          # 3/4 of the way: three words, then one
    assert (first.index, first.text, first.start_ms, first.end_ms) == (1, "one two three", 1000, 2500)
    assert (second.index, second.text, second.start_ms, second.end_ms) == (2, "four", 2500, 3000)
    assert (first.source_text, second.source_text) == ("um dois tres", "quatro")
    assert [line.index for line in project.lines] == [1, 2, 3, 4] and project.lines[2].text == "five six"


@pytest.mark.parametrize("index, at, message", [
    (1, 1050, "at least 100 ms from either end"),
    (1, 9000, "put the playhead inside it"),
    (3, 4700, "a single word"),
    (9, 4700, "no line 9; lines are numbered 1 to 3"),
])
def test_a_split_outside_a_line_or_of_one_word_is_refused(index, at, message):
    with pytest.raises(InputError, match=message):
        editing.split(memory_project(), index, at)


def test_merge_joins_one_speakers_neighbours_and_refuses_two_speakers():
    project = memory_project()
    merged = editing.merge(project, 1)
    assert (merged.text, merged.start_ms, merged.end_ms) == ("one two three four five six", 1000, 4000)
    assert [line.index for line in project.lines] == [1, 2] and project.lines[1].text == "seven"
    with pytest.raises(InputError, match="different speakers"):
        editing.merge(project, 1)
    with pytest.raises(InputError, match="is the last line"):
        editing.merge(project, 2)


def test_retime_checks_the_slot_and_scripts_have_none():
    project = memory_project()
    assert editing.retime(project, 2, 3400, 4200) and project.line(2).start_ms == 3400
    assert not editing.retime(project, 2, 3400, 4200)
    with pytest.raises(InputError, match="shorter than 100 ms"):
        editing.retime(project, 2, 3400, 3450)
    with pytest.raises(InputError, match="cannot start before 0"):
        editing.retime(project, 2, -10, 3450)
    with pytest.raises(InputError, match="a script's lines have no times"):
        editing.retime(memory_project(timed=False), 1, 0, 1000)


def test_takes_are_kept_up_to_five_and_any_can_be_picked_back():
    project = memory_project()
    line = project.line(1)
    for n in range(7):
        line.seed = 100 + n
        takes.record(project, line, {"final_key": f"{n:024x}", "fit_method": "natural", "duration_s": 1.0})
    assert [t["take"] for t in line.takes] == [3, 4, 5, 6, 7] and line.take == 7
    takes.pick(project, line, 3)
    assert line.seed == 102 and line.result["final_key"] == f"{2:024x}" and line.result["take"] == 3
    line.seed = 200
    takes.record(project, line, {"final_key": "f" * 24, "fit_method": "engine", "duration_s": 1.0})
    assert [t["take"] for t in line.takes] == [4, 5, 6, 7, 8] and line.take == 8   # the newest is the line's
    same = takes.record(project, line, {"final_key": "e" * 24, "fit_method": "gap", "duration_s": 1.0})
    assert same == 8 and len(line.takes) == 5                        # same settings: the take is refitted
    with pytest.raises(InputError, match="line 1 has no take 3; its takes: 4, 5, 6, 7, 8"):
        takes.pick(project, line, 3)


@pytest.fixture(scope="module")
def studio(tiny_env, reference_wav, tmp_path_factory):
    folder = tmp_path_factory.mktemp("editor")
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, folder / "presets"))}
    manager = EngineManager(EngineSettings.from_env({**os.environ, **env}))
    return Studio(manager, ProjectStore(folder / "projects"), threads=4)


@pytest.fixture
def rendered(studio):
    project = studio.create_project(srt(CUES), DubOptions(language="en", voice="female_generic", seed=3))
    summary = studio.render(project)
    assert summary.rendered == [1, 2, 3] and not summary.failed
    return project


def test_a_retimed_line_is_stale_and_renders_again_alone(studio, rendered):
    project = rendered
    assert studio.stale_lines(project) == []
    assert studio.retime_line(project, 2, "2.4", 3.9)
    reopened = studio.open(project.id)
    assert studio.stale_lines(reopened) == [2] and reopened.line(2).status == "done"   # kept, marked stale
    summary = studio.render(reopened, studio.stale_lines(reopened))
    assert summary.rendered == [2] and reopened.line(2).take == 1                      # same words: same take
    with pytest.raises(InputError, match="must be a number of seconds"):
        studio.retime_line(reopened, 2, "soon", 3.0)
    with pytest.raises(InputError, match="past the longest track allowed"):
        studio.retime_line(reopened, 2, 1.0, 10**7)


def test_a_new_take_keeps_the_old_one_and_either_can_be_picked(studio, rendered):
    project = rendered
    first_key = project.line(1).result["final_key"]
    seed = studio.new_take(project, 1)
    assert studio.stale_lines(project) == [1]
    studio.render(project, [1])
    line = project.line(1)
    assert [t["take"] for t in line.takes] == [1, 2] and line.take == 2 and line.seed == seed
    assert line.result["final_key"] != first_key
    studio.pick_take(project, 1, 1)
    reopened = studio.open(project.id)
    assert reopened.line(1).result["final_key"] == first_key and studio.stale_lines(reopened) == []
    report = studio.export(reopened).report
    entry = report["lines"][0]
    assert entry["take"] == 1 and [t["take"] for t in entry["takes"]] == [1, 2]
    assert [t["picked"] for t in entry["takes"]] == [True, False] and entry["takes"][1]["seed"] == seed


def test_split_and_merge_through_the_studio_render_only_what_they_touched(studio, rendered):
    project = rendered
    assert studio.split_line(project, 1, 1.4) == (1, 2)
    assert [line.text for line in project.lines] == ["one two", "three four.", "five six.", "seven."]
    assert studio.stale_lines(project) == [1, 2]
    assert studio.render(project, studio.stale_lines(project)).rendered == [1, 2]
    assert studio.merge_lines(studio.open(project.id), 2) == 2
    merged = studio.open(project.id)
    assert [line.text for line in merged.lines] == ["one two", "three four. five six.", "seven."]
    assert studio.stale_lines(merged) == [2]


def test_timeline_data_has_a_lane_per_speaker_and_each_clip_at_its_time(studio, rendered):
    project = rendered
    studio.retime_line(project, 3, 4.2, 5.0)
    data = timeline_data(project, studio.store, {i: i not in studio.stale_lines(project) for i in (1, 2, 3)})
    assert [lane["name"] for lane in data["lanes"]] == ["Maria", "Joao"]
    clips = {clip["index"]: clip for clip in data["clips"]}
    assert (clips[1]["lane"], clips[1]["start"], clips[1]["end"]) == (0, 0.5, 2.0)
    assert clips[3]["lane"] == 1 and clips[3]["status"] == "stale" and clips[1]["status"] == "done"
    maria = peaks_from_base64(data["lanes"][0]["peaks"])
    assert len(maria) == int(np.ceil(data["duration"] * PEAKS_PER_S)) + 1
    inside = maria[int(0.5 * PEAKS_PER_S) + 1: int(clips[1]["audio_end"] * PEAKS_PER_S) - 1]
    assert inside.max() > 0 and maria[: int(0.5 * PEAKS_PER_S) - 1].max() == 0   # sound only where a line is
    assert peaks_from_base64(data["lanes"][1]["peaks"])[: int(4.0 * PEAKS_PER_S) - 1].max() == 0


def test_unnamed_speakers_share_one_lane_and_unrendered_lines_have_no_peaks(studio):
    project = studio.create_project(srt([(0.2, 1.0, "hello."), (1.5, 2.5, "again.")]),
                                    DubOptions(language="en", voice="female_generic", seed=3))
    data = timeline_data(project, studio.store, {})
    assert [lane["name"] for lane in data["lanes"]] == [NO_SPEAKER]
    assert [clip["status"] for clip in data["clips"]] == ["pending", "pending"]
    assert peaks_from_base64(data["lanes"][0]["peaks"]).max() == 0


def test_the_dub_is_the_default_track_and_the_original_a_second_one_when_asked(tmp_path):
    video = make_video(tmp_path / "in.mp4", seconds=2.0)
    track = tmp_path / "track.wav"
    with open(track, "wb") as handle:
        media.encode_audio(np.zeros(2 * 24000, dtype=np.float32), handle, "wav")
    both = media.probe_streams(media.mux_video(video, track, tmp_path / "two.mp4", original_track=True,
                                               language="pt-BR", original_codec="aac"))["streams"]
    audio = [s for s in both if s["codec_type"] == "audio"]
    assert [s["disposition"]["default"] for s in audio] == [1, 0]
    assert [s["tags"]["handler_name"] for s in audio] == ["Dub (pt-BR)", "Original"]
    one = media.probe_streams(media.mux_video(video, track, tmp_path / "one.mp4"))["streams"]
    assert [s["codec_type"] for s in one] == ["video", "audio"]
