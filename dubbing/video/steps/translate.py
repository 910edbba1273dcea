"""Translate: a transformers seq2seq model, a translated subtitle file, or the words as they are.

    VOICE_STUDIO_TRANSLATION_MODEL   an NLLB, M2M100 or Marian model: a save_pretrained
                                     directory, hf://owner/repo or owner/repo
                                     (default facebook/nllb-200-distilled-600M)

The model loads on first use and runs on the device worker, many lines per forward
(sorted by length, so a batch pads little). A sentence that runs over several cues is
translated whole, with its neighbours, and the translation is shared out among those
cues by their share of the source's characters, at word boundaries: a model that
translates sentence by sentence sees whole sentences. Where a sentence's translation has
fewer words than it has cues, its cues are translated one by one instead.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engines.errors import EngineUnavailableError, InputError
from engines.quality.pretrained import LazyModel, OnDevice, PretrainedSource, half_precision_ok

from ...subtitles import ParsedSubtitles
from ..state import Cue

logger = logging.getLogger("voice_studio.dubbing.video.translate")

TRANSLATION_VARIABLE = "VOICE_STUDIO_TRANSLATION_MODEL"
DEFAULT_TRANSLATION_MODEL = "facebook/nllb-200-distilled-600M"
SENTENCEPIECE_PIN = "sentencepiece==0.2.3"
BATCH = 32
MAX_GROUP_CUES = 4             # at most this many cues translated as one sentence
MAX_GROUP_CHARS = 400
_ENDS_SENTENCE = re.compile(r"[.!?…。！？:;]\s*[\"'»”)]*$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                   "sentencepiece.bpe.model", "source.spm", "target.spm", "vocab.json")

# Whisper / app codes -> NLLB's (ISO 639-3 + script). Marian's multi-target tokens are >>xxx<< of the first part.
NLLB_CODES = {
    "en": "eng_Latn", "es": "spa_Latn", "fr": "fra_Latn", "de": "deu_Latn", "it": "ita_Latn", "pt": "por_Latn",
    "pt-BR": "por_Latn", "pl": "pol_Latn", "tr": "tur_Latn", "ru": "rus_Cyrl", "nl": "nld_Latn", "cs": "ces_Latn",
    "ar": "arb_Arab", "zh": "zho_Hans", "zh-CN": "zho_Hans", "ja": "jpn_Jpan", "hu": "hun_Latn", "ko": "kor_Hang",
    "hi": "hin_Deva", "uk": "ukr_Cyrl", "sv": "swe_Latn", "da": "dan_Latn", "fi": "fin_Latn", "no": "nob_Latn",
    "el": "ell_Grek", "he": "heb_Hebr", "ro": "ron_Latn", "bg": "bul_Cyrl", "ca": "cat_Latn", "hr": "hrv_Latn",
    "sk": "slk_Latn", "sl": "slv_Latn", "sr": "srp_Cyrl", "id": "ind_Latn", "ms": "zsm_Latn", "vi": "vie_Latn",
    "th": "tha_Thai", "fa": "pes_Arab", "ur": "urd_Arab", "bn": "ben_Beng", "ta": "tam_Taml", "te": "tel_Telu",
    "gl": "glg_Latn", "eu": "eus_Latn", "et": "est_Latn", "lv": "lvs_Latn", "lt": "lit_Latn", "tl": "tgl_Latn",
    "sw": "swh_Latn", "af": "afr_Latn", "cy": "cym_Latn", "is": "isl_Latn",
}


def m2m_code(language: str) -> str:
    return "zh" if language.startswith("zh") else language.split("-")[0]


class Translator(LazyModel):
    """A seq2seq translation model, loaded on first use; ``translate`` runs batched on the device worker."""

    display_name = "Translation"

    @classmethod
    def from_env(cls, device_preference: str, on_device: OnDevice, load_lock: threading.Lock | None = None,
                 environ: Mapping[str, str] | None = None) -> "Translator":
        source, problem = PretrainedSource.from_env(environ, TRANSLATION_VARIABLE, DEFAULT_TRANSLATION_MODEL,
                                                    "translation model", ("config.json",),
                                                    ("model.safetensors", "pytorch_model.bin"), TOKENIZER_FILES)
        return cls(source, device_preference, on_device, load_lock,
                   config_error=f"{cls.display_name}: {problem}" if problem else None)

    def _stage(self, path: Path) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except ImportError as exc:  # M2M100 and Marian tokenizers are sentencepiece models
            raise EngineUnavailableError(f"the translation model's tokenizer needs sentencepiece: pip install "
                                         f"{SENTENCEPIECE_PIN}, or set {TRANSLATION_VARIABLE} to an NLLB model") from exc
        model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        return model, tokenizer

    def _activate(self, staged: tuple[Any, Any], device: str) -> tuple[Any, Any]:
        import torch

        model, tokenizer = staged
        dtype = torch.float16 if half_precision_ok(device) else torch.float32
        return model.to(device=device, dtype=dtype).eval(), tokenizer

    def codes(self, source: str, target: str) -> tuple[dict[str, Any], str]:
        """(tokenizer settings, text prefix) that make this model translate ``source`` into ``target``."""
        model, tokenizer = self.ensure_loaded()
        vocab = tokenizer.get_vocab()
        if "eng_Latn" in vocab:                                    # NLLB
            src, tgt = NLLB_CODES.get(source), NLLB_CODES.get(target)
            if src is None or tgt is None or src not in vocab or tgt not in vocab:
                missing = source if src is None or src not in vocab else target
                raise InputError(f"the translation model has no code for language {missing!r}: give a translation "
                                 "file (--translation FILE) or --translation none")
            return {"src_lang": src, "forced_bos": vocab[tgt]}, ""
        if model.config.model_type == "m2m_100":                   # M2M100
            src, tgt = m2m_code(source), m2m_code(target)
            if f"__{src}__" not in vocab or f"__{tgt}__" not in vocab:
                raise InputError(f"the translation model has no code for {source!r} or {target!r}")
            return {"src_lang": src, "forced_bos": vocab[f"__{tgt}__"]}, ""
        prefix = f">>{NLLB_CODES.get(target, target)[:3]}<<"       # Marian: one pair, or >>xxx<< targets
        return {}, (prefix + " " if prefix in vocab else "")

    def translate(self, texts: list[str], source: str, target: str, progress: Callable[[float, str], None] | None = None) -> list[str]:
        """Each text in ``target``; batched by length, in the input's order."""
        model, tokenizer = self.ensure_loaded()
        settings, prefix = self.codes(source, target)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for first in range(0, len(order), BATCH):
            picked = order[first: first + BATCH]

            def run(picked=picked) -> list[str]:
                import torch

                if "src_lang" in settings:
                    tokenizer.src_lang = settings["src_lang"]
                batch = tokenizer([prefix + texts[i] for i in picked], return_tensors="pt", padding=True,
                                  truncation=True, max_length=256)
                longest = int(batch["input_ids"].shape[1])
                ceiling = getattr(model.generation_config, "max_length", None) or 400
                kwargs = {"max_new_tokens": min(400, ceiling, 2 * longest + 16)}
                if "forced_bos" in settings:
                    kwargs["forced_bos_token_id"] = settings["forced_bos"]
                with torch.inference_mode():
                    ids = model.generate(**{k: v.to(model.device) for k, v in batch.items()}, **kwargs)
                return tokenizer.batch_decode(ids, skip_special_tokens=True)

            for index, text in zip(picked, self.on_device(run, "translation")):
                out[index] = " ".join(text.split())
            if progress is not None:
                progress(min(1.0, (first + len(picked)) / len(texts)), f"{first + len(picked)} of {len(texts)} lines")
        return out


def sentence_groups(cues: list[Cue]) -> list[list[int]]:
    """Runs of cue indices that make one sentence: a cue not ending a sentence takes the next
    cue of the same speaker with it (at most ``MAX_GROUP_CUES`` / ``MAX_GROUP_CHARS``)."""
    groups: list[list[int]] = []
    for i, cue in enumerate(cues):
        last = groups[-1] if groups else None
        if (last is not None and not _ENDS_SENTENCE.search(cues[last[-1]].text)
                and cues[last[-1]].speaker == cue.speaker and len(last) < MAX_GROUP_CUES
                and sum(len(cues[j].text) for j in last) + len(cue.text) <= MAX_GROUP_CHARS):
            last.append(i)
        else:
            groups.append([i])
    return groups


def share_out(translation: str, sources: list[str]) -> list[str]:
    """``translation`` of the joined ``sources`` split at word boundaries in proportion to each
    source's characters; each piece gets at least one word while there are words left (with
    fewer words than sources, the last pieces are empty)."""
    words = translation.split()
    if len(sources) == 1:
        return [" ".join(words)]
    weights = [max(1, len(s)) for s in sources]
    total, pieces, start = sum(weights), [], 0
    for n, weight in enumerate(weights[:-1]):
        left = len(sources) - n - 1                 # pieces still to fill after this one
        end = round(len(words) * sum(weights[: n + 1]) / total)
        end = min(len(words), max(min(end, len(words) - left), start + 1))
        pieces.append(" ".join(words[start:end]))
        start = end
    pieces.append(" ".join(words[start:]))
    return pieces


def translate_cues(translator: Translator, cues: list[Cue], source: str, target: str,
                   progress: Callable[[float, str], None] | None = None) -> list[str]:
    """The spoken text of each cue in ``target``, sentences translated whole."""
    groups = sentence_groups(cues)
    joined = [" ".join(cues[i].text for i in group) for group in groups]
    translated = translator.translate(joined, source, target, progress)
    texts: list[str] = [""] * len(cues)
    alone: list[int] = []           # cues of sentences whose translation had fewer words than cues
    for group, text in zip(groups, translated):
        pieces = share_out(text, [cues[i].text for i in group])
        if len(group) > 1 and not all(pieces):
            alone.extend(group)
            continue
        for index, piece in zip(group, pieces):
            texts[index] = piece
    if alone:
        for index, text in zip(alone, translator.translate([cues[i].text for i in alone], source, target)):
            texts[index] = text
    return texts


def match_file(parsed: ParsedSubtitles, cues: list[Cue]) -> list[str]:
    """A translated subtitle file's lines, one per cue in order; ``InputError`` with both counts
    when they differ."""
    if len(parsed.cues) != len(cues):
        raise InputError(f"the translation file has {len(parsed.cues)} cue(s) but the video has {len(cues)} speech "
                         "cue(s): write --transcript-out, translate that file cue by cue, and give it back")
    return [cue.text for cue in parsed.cues]
