"""``python -m engines dub-subtitles``: subtitles in, a timed voice track (and an MP4) out.

    python -m engines dub-subtitles --subtitles in.srt --language pt-BR --voice female_generic \\
        --engine f5tts --speaker-voice "Maria=maria" --video in.mp4 --out-video out.mp4 \\
        --out track.wav --report report.json [--keep-original-track]

Prints one JSON object (the project id, the files written, the report's totals). The
project is kept under ``$VOICE_STUDIO_OUTPUT_DIR/projects/`` (or ``--output-dir``), so
the Studio tab can open it. Exit codes: 0 done, 2 bad input, 1 a line could not be
rendered by any engine (the outputs are still written, that line silent and reported).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

from engines.errors import InputError
from engines.storage import atomic_write

logger = logging.getLogger("voice_studio.dubbing.cli")

TRACK_SUFFIXES = {".wav": "wav", ".flac": "flac", ".mp3": "mp3"}


def add_parsers(sub) -> None:
    p = sub.add_parser("dub-subtitles", help="voice a subtitle file (SRT, WebVTT, ASS/SSA, script) into a timed track")
    p.add_argument("--subtitles", required=True, help="subtitle file: .srt, .vtt, .ass, .ssa, or a .txt script")
    p.add_argument("--encoding", default="auto",
                   help="the subtitle file's encoding: auto (a byte order mark, UTF-8, else detected; refused when "
                        "unclear) or a name such as windows-1252, windows-1250, gb18030, shift_jis, utf-16-le")
    p.add_argument("--language", required=True, help="pt-BR, en, es, ...")
    p.add_argument("--voice", default="female_generic", help="default voice: a preset or a saved voice id")
    p.add_argument("--engine", default="f5tts", help="f5tts | xtts")
    p.add_argument("--profile", default=None, help="quality profile, e.g. f5tts_balanced")
    p.add_argument("--speaker-voice", action="append", default=[], metavar="NAME=VOICE",
                   help="the voice of one speaker (repeat for each)")
    p.add_argument("--fit", default="fit", choices=("fit", "natural"),
                   help="fit: fit each line into its slot (default); natural: natural pace, overruns reported")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--video", default=None, help="the video to dub (its picture is copied, not re-encoded)")
    p.add_argument("--out-video", default=None, help="the dubbed MP4 (needs --video)")
    p.add_argument("--keep-original-audio", action="store_true",
                   help="keep the video's own sound under the voice, ducked while the voice speaks")
    p.add_argument("--keep-original-track", action="store_true",
                   help="keep the video's own sound as the MP4's second audio track (the dub stays the default one)")
    p.add_argument("--out", required=True, help="the track: .wav, .flac or .mp3")
    p.add_argument("--report", default=None, help="the JSON report")
    p.add_argument("--subtitles-out", default=None, help="the adjusted subtitles (what was spoken, when)")
    p.add_argument("--stems", default=None, help="a zip of per-line wav files")
    p.add_argument("--output-dir", default=None, help="where the project is kept (default $VOICE_STUDIO_OUTPUT_DIR)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, stdout) -> int:
    from engines.devices import manager_from_env

    from .project import ProjectStore
    from .service import DubOptions, Studio, parse_speaker_voices, read_subtitle_file

    out = Path(args.out)
    fmt = TRACK_SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise InputError(f"--out must name a .wav, .flac or .mp3 file, got {out.name!r}")
    if bool(args.video) != bool(args.out_video):
        raise InputError("--video and --out-video go together: give both or neither")
    if args.out_video and Path(args.out_video).suffix.lower() != ".mp4":
        raise InputError(f"--out-video must name an .mp4 file, got {Path(args.out_video).name!r}")
    if args.keep_original_track and not args.video:
        raise InputError("--keep-original-track needs --video (and --out-video): it keeps the video's own sound")
    speaker_voices = parse_speaker_voices("\n".join(args.speaker_voice))
    data = read_subtitle_file(args.subtitles)
    manager = manager_from_env()
    if args.output_dir:
        studio = Studio(manager, ProjectStore.in_output_dir(Path(args.output_dir)))
    else:
        studio = Studio.from_env(manager)
    options = DubOptions(language=args.language, voice=args.voice, engine=args.engine,
                         quality_profile=args.profile, speaker_voices=speaker_voices, fit=args.fit,
                         keep_original_audio=args.keep_original_audio, seed=args.seed,
                         keep_original_track=args.keep_original_track)

    def on_line(event) -> None:
        if event.status in ("done", "error"):
            logger.info("line %s %s (%s/%s)", event.index, event.status, event.done, event.total,
                        extra={"line": event.index, "status": event.status, "detail": event.message})

    project, exported, summary = studio.dub(data, options, video=args.video, name=Path(args.subtitles).stem,
                                            formats=(fmt,), on_line=on_line,
                                            source_suffix=Path(args.subtitles).suffix, encoding=args.encoding)
    written = {"track": _copy(exported.files[f"track_{fmt}"], out)}
    for kind, target in (("report", args.report), ("subtitles", args.subtitles_out), ("stems", args.stems),
                         ("video", args.out_video)):
        if target:
            written[kind] = _copy(exported.files[kind], Path(target))
    totals = exported.report["totals"]
    json.dump({"project_id": project.id, "project_dir": str(studio.store.folder(project.id)),
               "outputs": written, "totals": totals, "failed_lines": summary.to_dict()["failed"]}, stdout)
    stdout.write("\n")
    if summary.failed:
        sys.stderr.write(f"error: {len(summary.failed)} line(s) could not be rendered: "
                         + "; ".join(f"line {k}: {v}" for k, v in sorted(summary.failed.items())) + "\n")
        return 1
    return 0


def _copy(source: Path, target: Path) -> str:
    with open(source, "rb") as src:
        atomic_write(target, lambda handle: shutil.copyfileobj(src, handle, 4 * 2**20))
    return str(target)
