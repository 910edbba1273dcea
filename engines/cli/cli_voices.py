"""``python -m engines voices add|list|remove|export|import``: the saved-voice library from the shell.

Each command prints one JSON object on stdout. Bad input exits 2 with one ``error:``
line; a voice folder that cannot be written exits 1. A saved voice's id is accepted
wherever a preset is: ``python -m engines synth --voice maria ...``.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputError

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(sub) -> None:
    voices = sub.add_parser("voices", help="saved voices: add, list, remove, export, import")
    commands = voices.add_subparsers(dest="voices_command", required=True)

    add = commands.add_parser("add", help="save a voice from a clip and its transcript; prints it with its id")
    add.add_argument("--name", required=True, help="display name; the id is made from it (e.g. 'Maria' -> maria)")
    add.add_argument("--reference", required=True, help="the clip: wav, mp3, m4a, ogg, flac (3-12 s is best)")
    add.add_argument("--reference-text", default="",
                     help="the words spoken in the clip (F5-TTS needs them; without, the voice serves XTTS only)")
    add.add_argument("--language", default=None, help="the language spoken in the clip, e.g. pt-BR")
    add.add_argument("--notes", default="", help="free text kept with the voice")
    add.add_argument("--consent", default="", help="licence or consent: who agreed to this voice being cloned")
    add.set_defaults(run=run_add)

    commands.add_parser("list", help="presets and saved voices: {\"voices\": [...]}").set_defaults(run=run_list)

    remove = commands.add_parser("remove", help="remove a saved voice")
    remove.add_argument("voice_id")
    remove.set_defaults(run=run_remove)

    export = commands.add_parser("export", help="write a saved voice as one file (.voice.zip)")
    export.add_argument("voice_id")
    export.add_argument("--out", required=True, help="the file to write, e.g. maria.voice.zip")
    export.set_defaults(run=run_export)

    imported = commands.add_parser("import", help="add the voice in a .voice.zip; prints it")
    imported.add_argument("voice_file")
    imported.set_defaults(run=run_import)


def _library():
    from ..voices.library import VoiceLibrary

    return VoiceLibrary.from_env()


def _print(stdout, payload: dict) -> int:
    json.dump(payload, stdout, ensure_ascii=False)
    stdout.write("\n")
    return EXIT_OK


def _guarded(action):
    """A disk failure of the voice folder is exit 1 with one ``error:`` line (bad input stays exit 2)."""

    def run(args: argparse.Namespace, stdout) -> int:
        from ..voices.library import VoiceLibraryError

        try:
            return action(args, stdout)
        except VoiceLibraryError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_FAILED

    return run


@_guarded
def run_add(args: argparse.Namespace, stdout) -> int:
    return _print(stdout, _library().add(args.name, args.reference, args.reference_text, args.language,
                                         args.notes, args.consent))


@_guarded
def run_list(args: argparse.Namespace, stdout) -> int:
    from ..settings import Settings
    from ..voices.catalog import VoiceCatalog

    settings = Settings.from_env()
    catalog = VoiceCatalog(settings.cache_dir, settings.presets_dir, _library())
    return _print(stdout, {"voices": catalog.list()})


@_guarded
def run_remove(args: argparse.Namespace, stdout) -> int:
    return _print(stdout, {"removed": _library().remove(args.voice_id)})


@_guarded
def run_export(args: argparse.Namespace, stdout) -> int:
    from pathlib import Path

    out = Path(args.out)
    if not out.name.lower().endswith(".zip"):
        raise InputError(f"--out must name a .zip file (e.g. {args.voice_id}.voice.zip), got {out.name!r}")
    library = _library()
    written = library.export(args.voice_id, out)
    return _print(stdout, {"id": args.voice_id, "output": str(written), "bytes": written.stat().st_size})


@_guarded
def run_import(args: argparse.Namespace, stdout) -> int:
    return _print(stdout, _library().import_archive(args.voice_file))
