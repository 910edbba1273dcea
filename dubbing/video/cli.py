"""``python -m engines dub-video``: a video (or audio file) in, a dubbed track, MP4 and project out.

    python -m engines dub-video --video in.mp4 --language pt-BR [--source-language en|auto] \\
        [--speakers N|auto] [--translation FILE|none] [--engine f5tts|xtts] [--profile P] \\
        --out track.wav [--out-video out.mp4] [--report report.json] \\
        [--transcript-out source.srt] [--subtitles-out dubbed.srt] [--output-dir DIR]

Prints one JSON object: the project id, the files written and the report's totals.
Exit codes: 0 done; 1 a line could not be rendered (every output still written, that
line silent and reported) or a model could not be had; 2 bad input, with one ``error:``
line, found before any model loads where it can be. Running it again on the same file
with the same options resumes the saved project instead of starting over.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from engines.errors import InputError

from ..cli import _copy
from .options import TRANSLATE_MODEL, VideoDubOptions, check_options, parse_speakers

logger = logging.getLogger("voice_studio.dubbing.video.cli")

TRACK_SUFFIXES = (".wav", ".flac", ".mp3")


def add_parsers(sub) -> None:
    p = sub.add_parser("dub-video", help="dub a video (or audio file): transcribe, translate and re-voice each speaker")
    p.add_argument("--video", required=True, help="the video (MP4, MOV, MKV, WebM...) or audio file to dub")
    p.add_argument("--language", required=True, help="the dub's language: pt-BR, en, es, ...")
    p.add_argument("--source-language", default="auto", help="what the video speaks (a Whisper code), or auto")
    p.add_argument("--speakers", default="auto", help="how many people speak, or auto")
    p.add_argument("--translation", default=TRANSLATE_MODEL,
                   help="a translated subtitle file (one cue per speech cue), none (keep the words), or model (default)")
    p.add_argument("--engine", default="f5tts", help="f5tts | xtts")
    p.add_argument("--profile", default=None, help="quality profile, e.g. f5tts_balanced")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True, help="the dubbed soundtrack: .wav, .flac or .mp3")
    p.add_argument("--out-video", default=None, help="the dubbed MP4 (a video input only)")
    p.add_argument("--report", default=None, help="the JSON report")
    p.add_argument("--transcript-out", default=None, help="the source's subtitles: what was said, when, by whom")
    p.add_argument("--subtitles-out", default=None, help="the dub's subtitles: what is spoken, when")
    p.add_argument("--output-dir", default=None, help="where the project is kept (default $VOICE_STUDIO_OUTPUT_DIR)")
    p.set_defaults(run=run)


def check_args(args: argparse.Namespace) -> VideoDubOptions:
    """The options from the command line; ``InputError`` for anything wrong that needs no model."""
    out = Path(args.out)
    if out.suffix.lower() not in TRACK_SUFFIXES:
        raise InputError(f"--out must name a .wav, .flac or .mp3 file, got {out.name!r}")
    if args.out_video and Path(args.out_video).suffix.lower() != ".mp4":
        raise InputError(f"--out-video must name an .mp4 file, got {Path(args.out_video).name!r}")
    options = VideoDubOptions(language=args.language, source_language=args.source_language,
                              speakers=parse_speakers(args.speakers), translation=args.translation,
                              engine=args.engine, quality_profile=args.profile, seed=args.seed)
    check_options(options)
    return options


def run(args: argparse.Namespace, stdout) -> int:
    from engines.manager import EngineManager

    from ..project import ProjectStore
    from ..media import MediaError
    from ..service import Studio
    from .steps.extract import probe_media
    from .steps.mix import encode_track
    from .pipeline import VideoDubber

    options = check_args(args)
    info = probe_media(args.video)
    if args.out_video and not info.has_video:
        raise InputError("--out-video needs a video: the input is an audio file (its dubbed track is --out)")
    manager = EngineManager.from_env()
    studio = (Studio(manager, ProjectStore.in_output_dir(Path(args.output_dir))) if args.output_dir
              else Studio.from_env(manager))

    def on_progress(event) -> None:
        if event.line is None or event.line.status in ("done", "error"):
            logger.info("%s %d%% %s", event.stage, round(event.fraction * 100), event.message,
                        extra={"stage": event.stage, "fraction": round(event.fraction, 3)})

    try:
        result = VideoDubber(studio).dub(args.video, options, on_progress)
    except MediaError as exc:  # ffmpeg failed on a file this code wrote: the project is kept, resumable
        sys.stderr.write(f"error: {exc}; run the same command again to resume\n")
        return 1
    written = {"track": str(encode_track(result.files["track"], Path(args.out)))}
    for kind, target in (("report", args.report), ("source_subtitles", args.transcript_out),
                         ("dubbed_subtitles", args.subtitles_out), ("video", args.out_video)):
        if target:
            written[kind] = _copy(result.files[kind], Path(target))
    report = result.report
    json.dump({"project_id": result.project.id, "project_dir": str(studio.store.folder(result.project.id)),
               "outputs": written, "totals": report.get("totals"), "source_language": report.get("source_language"),
               "speakers": report.get("speakers"), "separation": report.get("separation", {}).get("status"),
               "notes": report.get("notes"), "failed_lines": {str(k): v for k, v in result.failed.items()}}, stdout)
    stdout.write("\n")
    if result.failed:
        sys.stderr.write(f"error: {len(result.failed)} line(s) could not be rendered: "
                         + "; ".join(f"line {k}: {v}" for k, v in sorted(result.failed.items())) + "\n")
        return 1
    return 0

