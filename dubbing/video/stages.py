"""Each stage of a video dub as one call: read what earlier stages left, run the stage's module,
return the result ``JobState.record`` saves. ``pipeline.VideoDubber`` calls them in order.

Every stage takes a ``Job`` (the project, its saved state, the models, a progress
callback) and returns its result as a JSON-able dict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import EngineUnavailableError, InputError
from engines.text.checks import has_speakable_content

from ..media import MediaError, _file, _run, ffmpeg
from ..project import Line, Project
from .options import TRANSLATE_FILE, TRANSLATE_NONE, CheckedOptions
from .state import Cue, JobState
from .steps import cast, mix, speakers, speech, transcribe, translate
from .steps.extract import SPEECH_FILE, extract_audio, media_info, probe_media
from .steps.separate import DIALOGUE16K_FILE as DIALOGUE16K
from .steps.separate import SEPARATOR_VARIABLE, separate
from .steps.speakers import speaker_name

logger = logging.getLogger("voice_studio.dubbing.video.stages")

Report = Callable[[float, str], None]


@dataclass
class Job:
    """What every stage may use."""

    project: Project
    state: JobState
    checked: CheckedOptions
    models: Any                       # pipeline.Models: the manager, separator, translator, speaker model, library
    source: Path                      # the project's copy of the file being dubbed
    report: Report

    def file(self, name: str) -> Path:
        return self.state.file(name)


def read_mono16k(path: Path) -> np.ndarray:
    import soundfile as sf

    samples, rate = sf.read(path, dtype="float32")
    if rate != speech.RATE:
        raise ValueError(f"{path.name} is at {rate} Hz, not {speech.RATE}")
    return samples


def window_reader(path: Path, rate_out: int) -> Callable[[float, float], np.ndarray]:
    """(start, end) -> that stretch of the sound file ``path``, mono at ``rate_out`` (read by seeking)."""
    import soundfile as sf

    from engines.audio.waveforms import resample

    def read(start: float, end: float) -> np.ndarray:
        with sf.SoundFile(path) as handle:
            handle.seek(min(handle.frames, int(start * handle.samplerate)))
            data = handle.read(max(0, int((end - start) * handle.samplerate)), dtype="float32", always_2d=True)
            return resample(data.mean(axis=1), handle.samplerate, rate_out)

    return read


def run_extract(job: Job) -> dict[str, Any]:
    info = probe_media(job.source, job.models.environ)
    job.report(0.1, f"{info.duration_s:.0f} s of {'video' if info.has_video else 'audio'}")
    try:
        result = extract_audio(job.source, job.state.pipeline_dir, info)
    except MediaError as exc:  # ffprobe read the file, ffmpeg cannot decode its sound: a damaged upload
        raise InputError(f"the file's sound cannot be decoded ({exc})") from exc
    return {**result, "input": job.source.name}


def run_speech(job: Job) -> dict[str, Any]:
    samples = read_mono16k(job.file(SPEECH_FILE))
    regions = speech.find_speech(samples, job.report)
    if not regions:
        raise InputError("no speech was found in the file's sound (Silero VAD heard none): there is nothing to dub")
    return {"regions": [[round(a, 3), round(b, 3)] for a, b in regions],
            "speech_s": round(sum(b - a for a, b in regions), 3)}


def run_separate(job: Job) -> dict[str, Any]:
    separator = job.models.separator
    try:
        separator.ensure_loaded()
    except EngineUnavailableError as exc:
        logger.warning("separation skipped", extra={"reason": str(exc)})
        return {"status": "skipped", "reason": str(exc), "variable": SEPARATOR_VARIABLE,
                "effect": "the original sound is ducked under the dub, and voices are cloned from it unseparated"}
    samples = read_mono16k(job.file(SPEECH_FILE))
    scale = (float(samples.mean()), float(samples.std()) + 1e-8)
    result = separate(separator, job.file("original.flac"), job.state.pipeline_dir, scale, job.report)
    _run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-protocol_whitelist", "file", "-f", "flac", "-i",
          _file(job.file(result["dialogue"])), "-ac", "1", "-ar", str(speech.RATE), "-c:a", "pcm_s16le", "-f", "wav",
          _file(job.file(DIALOGUE16K))], 600, "resampling the dialogue", job.file(DIALOGUE16K))
    return result


def speech_samples(job: Job) -> np.ndarray:
    """What the speech models hear: the separated dialogue when there is one, else the original."""
    separated = job.state.result("separate").get("status") == "separated"
    return read_mono16k(job.file(DIALOGUE16K if separated else SPEECH_FILE))


def run_transcribe(job: Job) -> dict[str, Any]:
    regions = [tuple(r) for r in job.state.result("speech")["regions"]]
    result = transcribe.transcribe(job.models.manager.asr, speech_samples(job), regions,
                                   job.checked.source_language, job.report)
    heard = [c for c in result["cues"] if has_speakable_content(c["text"])]
    if not heard:
        raise InputError("speech recognition heard no words in the file's speech: there is nothing to dub")
    return {**result, "cues": heard, "unheard_cues": len(result["cues"]) - len(heard)}


def run_speakers(job: Job) -> dict[str, Any]:
    cues = job.state.cues("transcribe")
    count = job.checked.options.speakers
    diarization = speakers.diarization_model(job.models.environ)
    if count == 1:
        numbers, detail = [0] * len(cues), {"method": "given", "count": 1}
    elif diarization is not None:
        numbers, detail = speakers.diarize(diarization, speech_samples(job), cues, count, job.models.manager.on_device)
    else:
        vectors = speakers.embed_cues(job.models.speaker, speech_samples(job), cues, job.report)
        numbers, detail = speakers.cluster(vectors, count)
    labels = [speaker_name(n + 1) for n in numbers]
    return {**detail, "speakers": list(dict.fromkeys(labels)), "labels": labels}


def labelled_cues(job: Job) -> list[Cue]:
    labels = job.state.result("speakers")["labels"]
    return [Cue(c.start_s, c.end_s, c.text, label) for c, label in zip(job.state.cues("transcribe"), labels)]


def run_translate(job: Job) -> dict[str, Any]:
    cues = labelled_cues(job)
    mode = job.checked.options.translation_mode
    if mode == TRANSLATE_NONE:
        texts, detail = [c.text for c in cues], {}
    elif mode == TRANSLATE_FILE:
        texts, detail = translate.match_file(job.checked.translation_file, cues), {}
    else:
        source = job.state.result("transcribe")["language"]
        translator = job.models.translator
        texts = translate.translate_cues(translator, cues, source, job.checked.language, job.report)
        detail = {"model": translator.spec, "source_language": source}
    folded = fill_lines(job.project, cues, texts)
    if not job.project.lines:
        raise InputError("the translation left no words to speak")
    job.models.store.save(job.project)
    return {"mode": mode, "texts": texts, "cues_without_words": folded, **detail}


def fill_lines(project: Project, cues: list[Cue], texts: list[str]) -> list[int]:
    """The project's lines: one per cue, the source words kept beside what is spoken. A cue left
    without words (its sentence's translation had fewer words than cues) joins the line before it
    when the same speaker says it; returns the cues (0-based) so joined or dropped."""
    lines: list[Line] = []
    folded = []
    for n, (cue, text) in enumerate(zip(cues, texts)):
        start, end = int(round(cue.start_s * 1000)), int(round(cue.end_s * 1000))
        if not text.strip():
            folded.append(n)
            if lines and lines[-1].speaker == cue.speaker:
                lines[-1].end_ms = end
                lines[-1].source_text = f"{lines[-1].source_text} {cue.text}"
            continue
        lines.append(Line(len(lines) + 1, start, end, text, cue.speaker, source_text=cue.text))
    project.lines = lines
    return folded


def run_voices(job: Job) -> dict[str, Any]:
    library = job.models.manager.voices.library
    if library is None:
        raise EngineUnavailableError("no voice library is configured: set VOICE_STUDIO_VOICES_DIR")
    separation = job.state.result("separate")
    separated = separation.get("status") == "separated"
    speech_file = job.file(separation["dialogue"] if separated else "original.flac")
    background = window_reader(job.file(separation["background"]), speech.RATE) if separated else None
    clean = cast.snr_db(window_reader(speech_file, speech.RATE), background)
    result = cast.clone_speakers(library, labelled_cues(job), window_reader(speech_file, 24000), clean,
                                 job.project.name, job.project.id, job.state.result("transcribe")["language"])
    job.project.settings.speaker_voices = {speaker: v["voice"] for speaker, v in result["voices"].items()}
    job.models.store.save(job.project)
    return result


def run_render(job: Job, on_line, cancel) -> dict[str, Any] | None:
    """None when the render was cancelled (the stage is then not finished)."""
    summary = job.models.studio.render(job.project, on_line=on_line, cancel=cancel)
    if summary.cancelled:
        return None
    return summary.to_dict()


def run_mix(job: Job) -> dict[str, Any]:
    from .outputs import write_outputs

    info = media_info(job.state.result("extract"))
    cues = [Cue(line.start_ms / 1000, line.end_ms / 1000) for line in job.project.lines]
    return write_outputs(job, info, cues, mix)
