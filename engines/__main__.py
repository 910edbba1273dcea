"""Command line: ``python -m engines synth|clone|status|...`` (a public contract).

stdout carries exactly one JSON object (the result metadata, or the health); logs and
anything the libraries print go to stderr. Exit codes: 0 ok, 2 bad input, 1 no engine
could serve.

Commands beyond synth/clone/status live in modules of their own, listed in
``COMMAND_MODULES``: each has ``add_parsers(sub)`` (registering its sub-parsers, each with
``set_defaults(run=...)``), and ``run(args, stdout) -> exit code``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import sys
from pathlib import Path

from .errors import EngineUnavailableError, InputError, NoEngineAvailableError
from .types import ENGINE_NAMES, SynthesisRequest

EXIT_OK, EXIT_NO_ENGINE, EXIT_BAD_INPUT = 0, 1, 2

# Modules that add commands (imported when the parser is built; heavy imports stay inside run).
COMMAND_MODULES: tuple[str, ...] = ("engines.cli_verify",)


class _ErrorExitParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors keep the "error:" contract
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", required=True)
    p.add_argument("--language", required=True, help="pt-BR, en, es, ...")
    p.add_argument("--engine", default="f5tts", help=" | ".join(ENGINE_NAMES))
    p.add_argument("--profile", default=None, help="quality profile, e.g. f5tts_balanced, xtts_expressive")
    p.add_argument("--speed", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-fallback", action="store_true", help="fail instead of falling back to the other engine")
    p.add_argument("--out", required=True, help="output .wav file")


def build_parser() -> argparse.ArgumentParser:
    parser = _ErrorExitParser(prog="python -m engines", description="Voice Studio engines")
    parser.add_argument("--log-level", default="WARNING")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ErrorExitParser)
    synth = sub.add_parser("synth", help="speak text in a preset voice (dubbing)")
    _add_common(synth)
    synth.add_argument("--preset", default="female_generic")
    clone = sub.add_parser("clone", help="speak text in the voice of a reference clip")
    _add_common(clone)
    clone.add_argument("--reference", required=True, help="reference clip: wav, mp3, m4a, ogg, flac")
    clone.add_argument("--reference-text", default="", help="its transcript (F5-TTS needs it)")
    status = sub.add_parser("status", help="print engine health")
    status.add_argument("--load", action="store_true", help="load each engine first")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parsers(sub)
    return parser


def _request(args: argparse.Namespace) -> SynthesisRequest:
    common = dict(text=args.text, language=args.language, engine=args.engine, quality_profile=args.profile,
                  speed=args.speed, seed=args.seed, allow_fallback=not args.no_fallback)
    if args.command == "clone":
        return SynthesisRequest(**common, reference_audio=args.reference, reference_text=args.reference_text)
    return SynthesisRequest(**common, voice_preset=args.preset)


def run(args: argparse.Namespace, stdout) -> int:
    if getattr(args, "run", None) is not None:
        return args.run(args, stdout)
    from .audio import write_wav
    from .manager import EngineManager

    manager = EngineManager.from_env()
    if args.command == "status":
        if args.load:
            for name in manager.engines:
                manager.load(name)
        json.dump(manager.health(), stdout)
        stdout.write("\n")
        return EXIT_OK
    out = Path(args.out)
    if out.suffix.lower() != ".wav":
        raise InputError(f"--out must name a .wav file, got {out.name!r}")
    result = manager.synthesize(_request(args))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out, result.audio, result.sample_rate)
    json.dump({**result.metadata, "output": str(out)}, stdout)
    stdout.write("\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stdout = sys.stdout
    try:
        # Upstream libraries print progress to stdout; keep stdout for the one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            return run(args, stdout)
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except NoEngineAvailableError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_NO_ENGINE
    except EngineUnavailableError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_NO_ENGINE


if __name__ == "__main__":
    raise SystemExit(main())
