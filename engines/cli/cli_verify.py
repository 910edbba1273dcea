"""``python -m engines verify``: does an engine really speak? (see ``verify.py``).

    python -m engines verify --engine f5tts --language pt-BR

Prints the report as one JSON object: CER, WER, what Whisper heard, speaker similarity and
the verdict. Exit codes as for every command: 0 the report was made (read its verdict),
1 the engine or speech recognition is unavailable (the error names the variable to set),
2 bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..types import ENGINE_NAMES


def add_parsers(sub) -> None:
    p = sub.add_parser("verify", help="synthesise a fixed sentence, transcribe it, report CER/WER and a verdict")
    p.add_argument("--engine", default="f5tts", help=" | ".join(ENGINE_NAMES))
    p.add_argument("--language", default=None, help="default: the engine's first language")
    p.add_argument("--reference", default=None, help="a voice clip to clone (default: f5-tts's English example)")
    p.add_argument("--reference-text", default=None, help="its transcript (empty: speech recognition makes one)")
    p.add_argument("--out", default=None, help="also write the synthesised sentence to this .wav file")
    p.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace, stdout) -> int:
    from ..errors import InputError
    from ..devices import manager_from_env
    from ..quality.speaker import SpeakerVerifier
    from ..quality.verify import verify_engine

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() != ".wav":
        raise InputError(f"--out must name a .wav file, got {out.name!r}")
    manager = manager_from_env()
    speaker = SpeakerVerifier.from_env(manager.settings.device, manager.on_device, manager.asr.load_lock)
    report = verify_engine(manager, args.engine, args.language, reference=args.reference,
                           reference_text=args.reference_text, speaker=speaker, keep_audio=out is not None)
    audio = report.pop("audio", None)
    if out is not None and audio is not None:
        from ..audio.waveforms import write_wav

        out.parent.mkdir(parents=True, exist_ok=True)
        write_wav(out, audio[1], audio[0])
        report["output"] = str(out)
    json.dump(report, stdout, ensure_ascii=False)
    stdout.write("\n")
    return 0
