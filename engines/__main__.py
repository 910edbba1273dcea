"""Command line: ``python -m engines synth|clone|status|...`` (a public contract).

stdout carries exactly one JSON object (the result metadata, or the health); logs and
anything the libraries print go to stderr. Exit codes: 0 ok, 2 bad input (one ``error:``
line on stderr), 1 no engine could serve (``status``: the health is ``unhealthy``).
Everything that can be checked without a model (the request, the output file) is checked
before any engine loads. Messages are the engines' own, worded for a command line.

Commands beyond synth/clone/status live in modules of their own, listed in
``COMMAND_MODULES``: each has ``add_parsers(sub)`` (registering its sub-parsers, each with
``set_defaults(run=...)``), and ``run(args, stdout) -> exit code``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import re
import sys
import tempfile
import warnings
from pathlib import Path

from .errors import EngineUnavailableError, InputError, NoEngineAvailableError
from .log_format import KeyValueFormatter
from .knobs import KNOBS, check_knobs
from .types import ENGINE_NAMES, SynthesisRequest

EXIT_OK, EXIT_NO_ENGINE, EXIT_BAD_INPUT = 0, 1, 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Modules that add commands (imported when the parser is built; heavy imports stay inside run).
COMMAND_MODULES: tuple[str, ...] = ("engines.cli.cli_voices", "engines.cli.download_command", "dubbing.cli",
                                     "engines.cli.cli_verify", "dubbing.video.cli", "deploy.cli")

# The engines word their messages for the web page; on the command line the user has a file, not an upload.
_CLI_WORDING = (
    (re.compile(r"\bnot found on the server \(upload it again\)"), "not found (check the path)"),
    (re.compile(r"\bupload it again\b"), "check the file"),
    (re.compile(r"\bupload a shorter clip\b"), "use a shorter clip"),
    (re.compile(r"\b(record or upload|upload or record) a clip\b"), "give a clip"),
    (re.compile(r"\bthe upload limit\b"), "the size limit"),
    (re.compile(r" on the server\b"), ""),
)


class _ErrorExitParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors keep the "error:" contract
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", required=True, help="the text to speak (numbers, money and dates are read as words)")
    p.add_argument("--language", required=True, help="pt-BR, en, es, ...")
    p.add_argument("--engine", default="f5tts", help=" | ".join(ENGINE_NAMES))
    p.add_argument("--profile", default=None, help="quality profile, e.g. f5tts_balanced, xtts_expressive")
    p.add_argument("--speed", type=float, default=None,
                   help="pace, 0.5 to 2.0 (1.0: natural); default: the quality profile's pace")
    p.add_argument("--seed", type=int, default=None,
                   help="a whole number: the same seed and settings give the same take; default: random "
                        "(the seed used is in the output JSON)")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE", type=_knob_argument,
                   help="an engine setting over the profile's, repeatable: " + ", ".join(
                       f"{k.name} ({k.range_text})" for k in KNOBS.values()))
    p.add_argument("--no-fallback", action="store_true", help="fail instead of falling back to the other engine")
    p.add_argument("--out", required=True, help="output .wav file")


def build_parser() -> argparse.ArgumentParser:
    parser = _ErrorExitParser(prog="python -m engines", description="Voice Studio engines")
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=LOG_LEVELS,
                        help="logs on stderr: " + ", ".join(LOG_LEVELS))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ErrorExitParser)
    synth = sub.add_parser("synth", help="speak text in a preset voice (dubbing)")
    _add_common(synth)
    synth.add_argument("--preset", "--voice", dest="preset", default="female_generic",
                       help="a built-in preset or a saved voice id (voices list)")
    clone = sub.add_parser("clone", help="speak text in the voice of a reference clip")
    _add_common(clone)
    clone.add_argument("--reference", required=True, help="reference clip: wav, mp3, m4a, ogg, flac")
    clone.add_argument("--reference-text", default="", help="its transcript (F5-TTS needs it)")
    status = sub.add_parser("status", help="print engine health (exit 1 when no engine can serve)")
    status.add_argument("--load", action="store_true", help="load each engine first")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parsers(sub)
    return parser


def _knob_argument(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, number or true/false); the range is checked with the other knobs."""
    name, sep, value = text.partition("=")
    if not sep or name.strip() not in KNOBS:
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=VALUE with NAME one of {', '.join(KNOBS)}")
    name, value = name.strip(), value.strip().lower()
    if KNOBS[name].kind is bool:
        if value not in ("true", "false", "1", "0", "yes", "no"):
            raise argparse.ArgumentTypeError(f"{name} must be true or false, not {value!r}")
        return name, value in ("true", "1", "yes")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be a number ({KNOBS[name].range_text}), not {value!r}") from None


def _request(args: argparse.Namespace) -> SynthesisRequest:
    common = dict(text=args.text, language=args.language, engine=args.engine, quality_profile=args.profile,
                  speed=args.speed, seed=args.seed, allow_fallback=not args.no_fallback,
                  knobs=check_knobs(dict(args.knob)))
    if args.command == "clone":
        return SynthesisRequest(**common, reference_audio=args.reference, reference_text=args.reference_text)
    return SynthesisRequest(**common, voice_preset=args.preset)


def check_output_file(out: Path) -> None:
    """Refuse an ``--out`` that could not be written, before hours of synthesis are spent on it."""
    if out.suffix.lower() != ".wav":
        raise InputError(f"--out must name a .wav file, got {out.name!r}")
    if out.is_dir():
        raise InputError(f"--out {str(out)!r} is a folder: name a .wav file in it")
    folder = out.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InputError(f"--out {str(out)!r} cannot be written: {str(existing)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{out.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise InputError(f"--out {str(out)!r} cannot be written ({exc.strerror or type(exc).__name__}): "
                         "choose a folder you can write to") from exc


def write_output(out: Path, samples, sample_rate: int) -> None:
    """16-bit WAV, written atomically (a reader never sees half a file)."""
    import soundfile as sf

    from .storage import atomic_write

    atomic_write(out, lambda handle: sf.write(handle, samples, sample_rate, subtype="PCM_16", format="WAV"))


def cli_wording(message: str) -> str:
    """The engines' message on one line, worded for a command line (a file, not an upload)."""
    message = " ".join(str(message).split())
    for pattern, replacement in _CLI_WORDING:
        message = pattern.sub(replacement, message)
    return message


def run(args: argparse.Namespace, stdout) -> int:
    if getattr(args, "run", None) is not None:
        return args.run(args, stdout)
    from .devices import manager_from_env

    manager = manager_from_env()
    if args.command == "status":
        if args.load:
            for name in manager.engines:
                manager.load(name)
        health = manager.health()
        json.dump(health, stdout)
        stdout.write("\n")
        return EXIT_NO_ENGINE if health["status"] == "unhealthy" else EXIT_OK
    out = Path(args.out)
    check_output_file(out)
    result = manager.synthesize(_request(args))  # validation refuses bad input before any engine loads
    try:
        write_output(out, result.audio, result.sample_rate)
    except OSError as exc:
        raise InputError(f"--out {str(out)!r} could not be written ({exc.strerror or type(exc).__name__})") from exc
    json.dump({**result.metadata, "output": str(out)}, stdout)
    stdout.write("\n")
    return EXIT_OK


def _log_to_stderr(level: str) -> logging.Handler:
    """One line per record on stderr (``extra=`` fields included); tracebacks only at ``--log-level debug``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(tracebacks=level == "DEBUG"))
    logging.getLogger().addHandler(handler)
    return handler


@contextlib.contextmanager
def _library_chatter(args: argparse.Namespace):
    """Where upstream libraries' prints and warnings go (vocos' "Load vocos...", torch.jit's deprecations):
    stdout is kept for the one JSON object, so they go to stderr at ``--log-level debug`` and nowhere
    otherwise, for synth, clone and status. Our own log records keep their handler (made before this)."""
    if args.log_level == "DEBUG" or getattr(args, "run", None) is not None:  # other commands show their progress
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = logging.getLogger()
    handler, level_before = _log_to_stderr(args.log_level), root.level
    root.setLevel(args.log_level)
    stdout = sys.stdout
    try:
        with _library_chatter(args):
            return run(args, stdout)
    except InputError as exc:
        sys.stderr.write(f"error: {cli_wording(str(exc))}\n")
        return EXIT_BAD_INPUT
    except (NoEngineAvailableError, EngineUnavailableError) as exc:
        sys.stderr.write(f"error: {cli_wording(str(exc))}\n")
        return EXIT_NO_ENGINE
    finally:  # main() may be called again in one process (tests): leave logging as it was
        root.removeHandler(handler)
        root.setLevel(level_before)


if __name__ == "__main__":
    raise SystemExit(main())
