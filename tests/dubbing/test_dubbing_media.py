"""ffmpeg work and the command line: MP4s muxed from a generated video, bad videos, time-stretch, the CLI."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf

from dubbing import media
from engines.__main__ import main
from engines.errors import InputError
from tests.dubbing_support import make_video, presets_dir, srt


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("video") / "in.mp4", seconds=4.0)


@pytest.fixture
def dub_env(use_env, reference_wav, tmp_path):
    use_env.setenv("VOICE_STUDIO_PRESETS_DIR", str(presets_dir(reference_wav, tmp_path / "presets")))
    use_env.setenv("VOICE_STUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    return use_env


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_cli_dubs_an_srt_into_a_track_report_and_mp4(dub_env, video, tmp_path, capsys):
    subtitles = tmp_path / "in.srt"
    subtitles.write_bytes(srt([(0.2, 1.5, "Maria: hello there."), (1.6, 2.4, "Joao: a second voice."),
                               (2.5, 3.2, "and the narrator.")]))
    out = {name: tmp_path / name for name in ("track.flac", "report.json", "out.mp4", "adjusted.srt", "stems.zip")}
    code, stdout, stderr = run_cli(
        ["dub-subtitles", "--subtitles", str(subtitles), "--language", "en", "--voice", "female_generic",
         "--engine", "f5tts", "--speaker-voice", "Maria=male_generic", "--seed", "3", "--video", str(video),
         "--out-video", str(out["out.mp4"]), "--out", str(out["track.flac"]), "--report", str(out["report.json"]),
         "--subtitles-out", str(out["adjusted.srt"]), "--stems", str(out["stems.zip"]), "--keep-original-track"],
        capsys)
    assert code == 0, stderr
    printed = json.loads(stdout)
    assert printed["totals"]["rendered"] == 3 and printed["failed_lines"] == {}
    assert printed["project_dir"].startswith(os.environ["VOICE_STUDIO_OUTPUT_DIR"] + "/projects/")
    assert os.path.isfile(os.path.join(printed["project_dir"], "project.json"))
    report = json.loads(out["report.json"].read_text())
    assert [line["voice"] for line in report["lines"]] == ["male_generic", "female_generic", "female_generic"]
    assert [line["speaker"] for line in report["lines"]] == ["Maria", "Joao", None]
    for line in report["lines"]:
        assert line["fit_method"] in ("natural", "engine", "stretch", "gap", "overrun")
        assert set(line) >= {"index", "start", "end", "tts_engine_used", "engine_fallback", "fallback_reason",
                              "natural_s", "duration_s", "placed_start", "speed_factor", "overrun_s"}
    track, rate = sf.read(out["track.flac"])
    assert rate == 24000 and abs(len(track) / rate - report["totals"]["track_duration_s"]) < 1e-3
    assert report["totals"]["track_duration_s"] >= 4.0  # as long as the video
    with zipfile.ZipFile(out["stems.zip"]) as stems:
        assert sorted(n for n in stems.namelist() if n.endswith(".wav"))[0].startswith("0001_")
        assert len(json.loads(stems.read("stems.json"))) == 3
    assert "Maria: hello there." in out["adjusted.srt"].read_text()

    probe = media.probe_streams(out["out.mp4"])
    assert [s["codec_type"] for s in probe["streams"]] == ["video", "audio", "audio"]   # the dub, then the original
    assert [s["disposition"]["default"] for s in probe["streams"][1:]] == [1, 0]
    video_stream = next(s for s in probe["streams"] if s["codec_type"] == "video")
    original = next(s for s in media.probe_streams(video)["streams"] if s["codec_type"] == "video")
    assert video_stream["codec_name"] == "h264" and video_stream["nb_frames"] == original["nb_frames"]  # copied
    assert float(probe["format"]["duration"]) == pytest.approx(4.0, abs=0.15)


def test_ducked_mux_keeps_the_original_under_the_voice(video, tmp_path):
    voice = np.zeros(4 * 24000, dtype=np.float32)
    voice[24000:48000] = 0.5 * np.sin(2 * np.pi * 300 * np.arange(24000) / 24000)
    track = tmp_path / "track.wav"
    with open(track, "wb") as handle:
        media.encode_audio(voice, handle, "wav")
    replaced = media.mux_video(video, track, tmp_path / "replaced.mp4")
    ducked = media.mux_video(video, track, tmp_path / "ducked.mp4", keep_original=True)

    def loudness(path, start, end):
        pcm = media._run([media.ffmpeg(), "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", "24000",
                          "pipe:1"], 60, "decode")
        samples = np.frombuffer(pcm, dtype=np.float32)
        return float(np.sqrt(np.mean(samples[int(start * 24000):int(end * 24000)] ** 2)))

    assert loudness(replaced, 2.5, 3.5) < 1e-3          # only the (silent) track: the tone is gone
    assert loudness(ducked, 2.5, 3.5) > 0.05            # the original tone is kept where the voice is silent
    for path in (replaced, ducked):
        streams = media.probe_streams(path)["streams"]
        assert [s["codec_type"] for s in streams] == ["video", "audio"]


def test_bad_videos_are_refused_with_a_reason(tmp_path, video):
    silent = make_video(tmp_path / "silent.mp4", seconds=1.0, audio=False)
    with pytest.raises(InputError, match="the video has no audio track"):
        media.probe_video(silent)
    text = tmp_path / "notes.mp4"
    text.write_text("just some text, not a video")
    with pytest.raises(InputError, match="is not a video") as err:
        media.probe_video(text)
    assert str(tmp_path) not in str(err.value)  # no server path in the message
    audio_only = tmp_path / "voice.m4a"
    media._run([media.ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
                str(audio_only)], 60, "make")
    with pytest.raises(InputError, match="not a video: it has no video stream"):
        media.probe_video(audio_only)
    # A playlist posing as a video would make ffmpeg open the paths written inside it.
    playlist = tmp_path / "evil.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n{video}\n#EXT-X-ENDLIST\n")
    with pytest.raises(InputError, match="is not a video"):
        media.probe_video(playlist)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2**20 + 1))
    with pytest.raises(InputError, match="the limit is 1 MB"):
        media.probe_video(big, {"VOICE_STUDIO_MAX_VIDEO_MB": "1"})
    with pytest.raises(InputError, match="video is 4.0 s long; the limit is 2.0 s"):
        media.probe_video(video, {"VOICE_STUDIO_MAX_VIDEO_S": "2"})


@pytest.mark.parametrize("factor", [1.04, 1.15, 1.35])
def test_time_stretch_is_exact_in_length(factor):
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(90_112) * 0.1).astype(np.float32)   # a length rubberband cuts short
    stretched = media.time_stretch(audio, factor)
    assert len(stretched) == round(len(audio) / factor)
    assert np.sqrt(np.mean(stretched[-2400:] ** 2)) > 0.02           # the end of the line is still there


@pytest.mark.parametrize("args, message", [
    (["--out", "track.ogg"], "--out must name a .wav, .flac or .mp3 file"),
    (["--video", "in.mp4"], "--video and --out-video go together"),
    (["--speaker-voice", "Maria"], "must be Name=voice"),
    (["--speaker-voice", "Maria=nobody"], "unknown voice 'nobody' for speaker 'Maria'"),
    (["--subtitles", "missing.srt"], "subtitle file is missing"),
])
def test_cli_bad_input_exits_2_with_one_error_line(dub_env, tmp_path, capsys, args, message):
    subtitles = tmp_path / "in.srt"
    subtitles.write_bytes(srt([(0.0, 1.0, "Maria: hello.")]))
    base = {"--subtitles": str(subtitles), "--language": "en", "--out": str(tmp_path / "t.wav")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = str(tmp_path / value) if flag in ("--subtitles", "--video", "--out") else value
    argv = ["dub-subtitles"] + [x for pair in base.items() for x in pair]
    code, stdout, stderr = run_cli(argv, capsys)
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1
    assert "Traceback" not in stderr


def test_cli_keep_original_track_needs_a_video(dub_env, tmp_path, capsys):
    subtitles = tmp_path / "in.srt"
    subtitles.write_bytes(srt([(0.0, 1.0, "hello.")]))
    code, stdout, stderr = run_cli(["dub-subtitles", "--subtitles", str(subtitles), "--language", "en", "--out",
                                    str(tmp_path / "t.wav"), "--keep-original-track"], capsys)
    assert code == 2 and stdout == "" and stderr == ("error: --keep-original-track needs --video (and --out-video): "
                                                     "it keeps the video's own sound\n")
