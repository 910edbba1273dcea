"""Speakers: who says each cue.

Each cue is embedded with the app's speaker model (``VOICE_STUDIO_SPEAKER_MODEL``, a WavLM
x-vector model through transformers, on the device worker) and the embeddings are
clustered with scikit-learn's agglomerative clustering on cosine distance: into the
number of speakers given, or, with none given, into the count whose clusters are best
separated (silhouette), or into one when every cue sounds alike. When
``VOICE_STUDIO_DIARIZATION_MODEL`` is set, pyannote's pipeline (an optional extra)
diarizes the whole track instead and each cue takes the speaker it overlaps most.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engines.errors import EngineUnavailableError
from engines.quality.speaker import SAME_SPEAKER_THRESHOLD, SpeakerVerifier

from ..state import Cue

logger = logging.getLogger("voice_studio.dubbing.video.speakers")

RATE = 16000
DIARIZATION_VARIABLE = "VOICE_STUDIO_DIARIZATION_MODEL"
PYANNOTE_PIN = "pyannote.audio==4.0.7"
MAX_EMBED_S = 6.0             # an x-vector settles within a few seconds of speech
EMBED_BATCH = 32
MAX_AUTO_SPEAKERS = 8
MIN_SILHOUETTE = 0.1          # below it, a split into two or more is not better than one speaker

Progress = Callable[[float, str], None]


def speaker_name(number: int) -> str:
    return f"S{number}"


def embed_cues(verifier: SpeakerVerifier, samples: np.ndarray, cues: list[Cue],
               progress: Progress | None = None) -> np.ndarray:
    """One L2-normalised x-vector per cue (rows, in the cues' order), from at most ``MAX_EMBED_S``
    of each; cues of like length share a batch, so little of a forward is padding."""
    model, extractor = verifier.ensure_loaded()
    clips = [np.ascontiguousarray(samples[int(c.start_s * RATE): int(min(c.end_s, c.start_s + MAX_EMBED_S) * RATE)],
                                  dtype=np.float32) for c in cues]
    clips = [c if len(c) >= RATE // 4 else np.pad(c, (0, RATE // 4 - len(c))) for c in clips]
    order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
    vectors: list[np.ndarray | None] = [None] * len(clips)
    for first in range(0, len(order), EMBED_BATCH):
        picked = order[first: first + EMBED_BATCH]

        def run(batch=[clips[i] for i in picked]) -> np.ndarray:
            import torch

            inputs = extractor(batch, sampling_rate=RATE, return_tensors="pt", padding=True)
            with torch.inference_mode():
                out = model(**{k: v.to(model.device) for k, v in inputs.items()}).embeddings
            return torch.nn.functional.normalize(out.float(), dim=-1).cpu().numpy()

        for index, vector in zip(picked, verifier.on_device(run, "speaker embeddings")):
            vectors[index] = vector
        if progress is not None:
            progress(min(1.0, (first + len(picked)) / len(clips)), "voices compared")
    return np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)


def cluster(embeddings: np.ndarray, count: int | None = None) -> tuple[list[int], dict[str, Any]]:
    """A speaker number (0-based, in order of first appearance) per row, and how it was decided.

    ``count`` given: exactly that many clusters (fewer when there are fewer cues). Else
    one cluster when no two cues are further apart than the speaker model's same-speaker
    threshold allows; otherwise the count from 2 to ``MAX_AUTO_SPEAKERS`` with the best
    silhouette, if it reaches ``MIN_SILHOUETTE``.
    """
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    rows = len(embeddings)
    if rows == 0:
        return [], {"method": "none"}
    if count is not None:
        k = min(count, rows)
        labels = (np.zeros(rows, dtype=int) if k == 1
                  else AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(embeddings))
        return _in_order(labels), {"method": "given", "count": k}
    if rows < 3:
        return [0] * rows, {"method": "auto", "count": 1, "reason": "fewer than 3 cues"}
    similarity = embeddings @ embeddings.T
    if float(similarity.min()) >= SAME_SPEAKER_THRESHOLD:
        return [0] * rows, {"method": "auto", "count": 1, "reason": "every cue sounds like the same speaker"}
    scores: dict[int, float] = {}
    fits: dict[int, np.ndarray] = {}
    for k in range(2, min(MAX_AUTO_SPEAKERS, rows - 1) + 1):
        labels = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(embeddings)
        scores[k] = float(silhouette_score(embeddings, labels, metric="cosine"))
        fits[k] = labels
    best = max(scores, key=lambda k: (scores[k], -k))
    detail = {"method": "auto", "silhouette": {str(k): round(v, 4) for k, v in scores.items()}}
    if scores[best] < MIN_SILHOUETTE:
        return [0] * rows, {**detail, "count": 1, "reason": "no split separates the voices"}
    return _in_order(fits[best]), {**detail, "count": best}


def _in_order(labels) -> list[int]:
    """Cluster labels renumbered by first appearance (the first speaker heard is S1)."""
    seen: dict[Any, int] = {}
    return [seen.setdefault(label.item() if hasattr(label, "item") else label, len(seen)) for label in labels]


def diarization_model(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return (env.get(DIARIZATION_VARIABLE) or "").strip() or None


def check_pyannote(spec: str) -> None:
    """pyannote is an optional extra: a clear error naming the install when it is configured but absent."""
    try:
        import pyannote.audio  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailableError(f"{DIARIZATION_VARIABLE} is set ({spec}) but pyannote.audio is not installed: "
                                     f"pip install {PYANNOTE_PIN}, or unset {DIARIZATION_VARIABLE} to cluster "
                                     "speakers with VOICE_STUDIO_SPEAKER_MODEL") from exc


def diarize(spec: str, samples: np.ndarray, cues: list[Cue], count: int | None,
            on_device: Callable[[Callable[[], Any], str], Any]) -> tuple[list[int], dict[str, Any]]:
    """Each cue's speaker from pyannote's pipeline (``spec``: a local folder or a Hub id)."""
    check_pyannote(spec)
    import torch
    from pyannote.audio import Pipeline

    pipeline = Pipeline.from_pretrained(spec)
    if pipeline is None:
        raise EngineUnavailableError(f"pyannote could not load {spec}: set {DIARIZATION_VARIABLE} to a local "
                                     "pipeline folder, or accept the model's terms on the Hub")

    def run():
        if torch.cuda.is_available():
            pipeline.to(torch.device("cuda"))
        waveform = {"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": RATE}
        kwargs = {"num_speakers": count} if count else {}
        return pipeline(waveform, **kwargs)

    output = on_device(run, "diarization")
    annotation = getattr(output, "speaker_diarization", output)
    turns = [(turn.start, turn.end, label) for turn, _, label in annotation.itertracks(yield_label=True)]
    labels = []
    for cue in cues:
        overlap: dict[str, float] = {}
        for start, end, label in turns:
            shared = min(end, cue.end_s) - max(start, cue.start_s)
            if shared > 0:
                overlap[label] = overlap.get(label, 0.0) + shared
        labels.append(max(overlap, key=overlap.get) if overlap else None)
    known = [label for label in labels if label is not None]
    fill = known[0] if known else "SPEAKER_00"
    numbers = _in_order([label or fill for label in labels])
    return numbers, {"method": "pyannote", "model": spec, "count": len(set(numbers))}
