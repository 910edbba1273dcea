"""Speech quality per engine and profile, for people with real weights.

Over the shipped text lists (``bench/quality_texts/<language>.txt``: 20 pt-BR and 20 English
sentences with numbers, names and punctuation) it clones one reference voice with each
engine and quality profile through ``EngineManager`` (the app's own path: text front end,
batching, guard), then scores every clip:

- WER and CER (``jiwer``) of what Whisper hears against the sentence, both sides normalised
  alike (``engines.quality.verify.score_text``);
- speaker similarity to the reference (WavLM speaker verification, ``engines.quality.speaker``);
- UTMOS (predicted MOS, 1-5) where the ``utmos`` package and its weights are present;
- RTF (synthesis seconds per second of audio) from the result metadata.

It writes every clip's figures to JSON and a Markdown table of the means.

    python -m bench.quality --out quality.json --markdown quality.md
    python -m bench.quality --quick --out quick.json      # 2 sentences a language, default profiles

Weights come from the usual variables (F5TTS_*, XTTS_MODEL, VOICE_STUDIO_ASR_MODEL,
VOICE_STUDIO_SPEAKER_MODEL: local paths or the Hub), or ``--asr-model`` / ``--speaker-model``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from engines import EngineManager, SynthesisRequest, VoiceStudioError
from engines.quality.asr import ASR_VARIABLE, Transcriber
from engines.audio.waveforms import load_reference_audio
from engines.profiles import DEFAULT_PROFILE, PROFILES_BY_ENGINE
from engines.quality.speaker import SPEAKER_VARIABLE, SpeakerVerifier
from engines.storage import atomic_write_bytes
from engines.quality.verify import error_rates, packaged_reference

logger = logging.getLogger("bench.quality")

TEXTS_DIR = Path(__file__).with_name("quality_texts")
QUICK_SENTENCES = 2
SEED = 1234


def read_texts(directory: Path, languages: list[str] | None) -> dict[str, list[str]]:
    """``{language: sentences}`` from ``<language>.txt`` files (blank lines and ``#`` comments skipped)."""
    texts = {}
    for path in sorted(directory.glob("*.txt")):
        if languages and path.stem not in languages:
            continue
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        texts[path.stem] = [line for line in lines if line and not line.startswith("#")]
    if not texts:
        raise SystemExit(f"no text lists for {languages or 'any language'} in {directory}")
    return texts


class Utmos:
    """UTMOS from the ``utmos`` package, when it and its weights are present; else says why not."""

    def __init__(self, enabled: bool):
        self.model = None
        self.status = "off (--no-utmos)"
        if not enabled:
            return
        try:
            import utmos
        except ImportError:
            self.status = "not installed (pip install utmos)"
            return
        try:
            self.model = utmos.Score()
            self.status = "available"
        except Exception as exc:  # weights missing offline, a broken install: the other metrics go on
            self.status = f"unavailable ({type(exc).__name__}: {exc})"
            logger.warning("UTMOS unavailable", extra={"reason": self.status})

    def score(self, audio: np.ndarray, sample_rate: int) -> float | None:
        if self.model is None:
            return None
        return float(self.model.calculate_wav(audio, sample_rate))


def synthesize_all(manager: EngineManager, jobs: list[dict[str, Any]], reference: Path, reference_text: str,
                   parallel: int) -> list[Any]:
    """Every job at once from a thread pool (the device worker batches F5 jobs of one profile)."""
    def run(job: dict[str, Any]):
        request = SynthesisRequest(text=job["text"], language=job["language"], engine=job["engine"],
                                   quality_profile=job["profile"], reference_audio=str(reference),
                                   reference_text=reference_text, seed=SEED, allow_fallback=False)
        try:
            return manager.synthesize(request)
        except VoiceStudioError as exc:  # recorded in the report as this clip's error
            return exc

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(run, jobs))


def score_group(manager: EngineManager, speaker: SpeakerVerifier, utmos: Utmos, reference_audio, items: list[dict],
                results: list[Any], language: str) -> None:
    """Fill each item of one (engine, profile, language) group with its scores, in place."""
    done = [(item, result) for item, result in zip(items, results) if not isinstance(result, Exception)]
    for item, result in zip(items, results):
        if isinstance(result, Exception):
            item["error"] = str(result)
    if not done:
        return
    heard = manager.asr.transcribe_batch([r.audio for _, r in done], done[0][1].sample_rate, language)
    try:
        similarity = speaker.similarities(reference_audio.samples, [r.audio for _, r in done], done[0][1].sample_rate)
    except VoiceStudioError as exc:  # optional metric: the report says why it is missing
        similarity = [None] * len(done)
        for item, _ in done:
            item["speaker_similarity_error"] = str(exc)
    for (item, result), text, sim in zip(done, heard, similarity):
        wer, cer = error_rates(item["text"], text, language)
        meta = result.metadata
        item.update(transcript=text, wer=round(wer, 4), cer=round(cer, 4),
                    speaker_similarity=None if sim is None else round(sim, 4),
                    utmos=utmos.score(result.audio, result.sample_rate), duration_s=meta["duration_s"],
                    rtf=meta["rtf"], normalized_text=meta.get("normalized_text"), batched_with=meta.get("batched_with"))


def summarize(items: list[dict]) -> dict[str, Any]:
    def mean(key: str) -> float | None:
        values = [item[key] for item in items if item.get(key) is not None]
        return round(statistics.fmean(values), 4) if values else None

    return {"clips": len(items), "failed": sum(1 for item in items if "error" in item),
            **{key: mean(key) for key in ("wer", "cer", "speaker_similarity", "utmos", "rtf")}}


def markdown(rows: list[dict], config: dict[str, Any]) -> str:
    def cell(value, percent=False):
        if value is None:
            return "—"
        return f"{value:.1%}" if percent else f"{value:.3f}"

    lines = [f"# Speech quality ({config['date']}, {config['device']})", "",
             f"ASR `{config['asr_model']}`, speaker model `{config['speaker_model']}`, UTMOS: {config['utmos']}; "
             f"reference: {config['reference']}", "",
             "| engine | profile | language | clips | failed | WER | CER | speaker sim. | UTMOS | RTF |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['engine']} | {row['profile']} | {row['language']} | {row['clips']} | {row['failed']} | "
                     f"{cell(row['wer'], True)} | {cell(row['cer'], True)} | {cell(row['speaker_similarity'])} | "
                     f"{cell(row['utmos'])} | {cell(row['rtf'])} |")
    return "\n".join(lines) + "\n"


def plan(manager: EngineManager, engines: list[str], profiles: list[str] | None, texts: dict[str, list[str]],
         quick: bool) -> list[tuple[str, str, str, list[str]]]:
    """(engine, profile, language, sentences) groups: each engine's profiles, for the languages it serves."""
    groups = []
    for engine in engines:
        served = manager.engine(engine).languages
        every = list(PROFILES_BY_ENGINE[engine])
        if profiles:
            names = [name for name in every if name in profiles]
        else:
            names = [DEFAULT_PROFILE[engine]] if quick else every
        for language, sentences in texts.items():
            if language in served:
                groups.extend((engine, profile, language, sentences[:QUICK_SENTENCES] if quick else sentences)
                              for profile in names)
    return groups


def run(args: argparse.Namespace) -> dict[str, Any]:
    manager = EngineManager.from_env()
    if args.asr_model:
        manager.asr = Transcriber.from_env(manager.settings.device, manager.settings.cache_dir, manager.on_device,
                                           manager.asr.load_lock, environ={ASR_VARIABLE: args.asr_model})
    speaker = SpeakerVerifier.from_env(manager.settings.device, manager.on_device, manager.asr.load_lock,
                                       environ={SPEAKER_VARIABLE: args.speaker_model} if args.speaker_model else None)
    manager.asr.ensure_loaded()  # no ASR, no WER: fail before minutes of synthesis (the error names the variable)
    utmos = Utmos(not args.no_utmos)
    if args.reference:
        reference, reference_text, label = Path(args.reference), args.reference_text, Path(args.reference).name
    else:
        reference, reference_text, _ = packaged_reference()
        label = f"f5-tts example {reference.name}"
    reference_audio = load_reference_audio(reference)
    texts = read_texts(Path(args.texts), args.languages.split(",") if args.languages else None)
    groups = plan(manager, args.engines.split(","), args.profiles.split(",") if args.profiles else None, texts,
                  args.quick)
    rows, started = [], time.perf_counter()
    for index, (engine, profile, language, sentences) in enumerate(groups, 1):
        logger.info("group", extra={"group": f"{index}/{len(groups)}", "engine": engine, "profile": profile,
                                    "language": language, "clips": len(sentences)})
        items = [{"text": text} for text in sentences]
        jobs = [{"text": t, "language": language, "engine": engine, "profile": profile} for t in sentences]
        results = synthesize_all(manager, jobs, reference, reference_text, args.parallel)
        score_group(manager, speaker, utmos, reference_audio, items, results, language)
        rows.append({"engine": engine, "profile": profile, "language": language, **summarize(items), "items": items})
    config = {"date": time.strftime("%Y-%m-%d"), "device": manager.engine(groups[0][0]).device if groups else None,
              "asr_model": manager.asr.spec, "speaker_model": speaker.spec, "utmos": utmos.status, "reference": label,
              "quick": args.quick, "seed": SEED, "seconds": round(time.perf_counter() - started, 1),
              "models": {name: manager.engine(name).model_spec for name in manager.engines}}
    return {"config": config, "rows": rows}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--engines", default="f5tts,xtts")
    p.add_argument("--profiles", default=None, help="comma list (default: every profile of each engine)")
    p.add_argument("--languages", default=None, help="comma list of text lists to use (default: all)")
    p.add_argument("--texts", default=str(TEXTS_DIR), help="a folder of <language>.txt files")
    p.add_argument("--reference", default=None, help="voice clip to clone (default: f5-tts's English example)")
    p.add_argument("--reference-text", default=None, help="its transcript (default: made by speech recognition)")
    p.add_argument("--asr-model", default=None, help=f"overrides {ASR_VARIABLE}")
    p.add_argument("--speaker-model", default=None, help=f"overrides {SPEAKER_VARIABLE}")
    p.add_argument("--no-utmos", action="store_true", help="skip UTMOS even where the package is installed")
    p.add_argument("--parallel", type=int, default=8, help="requests in flight at once (F5 jobs batch together)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_SENTENCES} sentences a language, default profiles")
    p.add_argument("--out", required=True, help="JSON report")
    p.add_argument("--markdown", default=None, help="Markdown table (default: next to --out, .md)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with contextlib.redirect_stdout(sys.stderr):  # upstream prints progress; stdout carries the table only
            report = run(args)
    except VoiceStudioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    out = Path(args.out)
    table = markdown(report["rows"], report["config"])
    atomic_write_bytes(out, json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"))
    atomic_write_bytes(Path(args.markdown) if args.markdown else out.with_suffix(".md"), table.encode("utf-8"))
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
