"""Tiny, randomly initialised models for the video-dubbing pipeline, in their real formats.

- Whisper and WavLM: ``devtools.tiny_speech`` (reused, not rebuilt here);
- translation: an NLLB-style ``M2M100ForConditionalGeneration`` with an ``NllbTokenizer``
  whose BPE is trained here with ``tokenizers`` (every NLLB language code is a special
  token, as in ``facebook/nllb-200-*``), saved with ``save_pretrained``;
- source separation: an ``HTDemucs`` a few channels wide, saved the way demucs' own Hub
  repositories hold one (``htdemucs.yaml`` naming the model, ``<sig>.safetensors`` with
  the class and its keyword arguments as JSON in the metadata), which
  ``dubbing.video.steps.demucs_files`` reads without unpickling anything.

``build_pipeline_models(dir)`` builds them all and returns the environment variables a
user would set. Random weights: Whisper hears random letters, the translator writes
random words, Demucs splits noise from noise. Timing, shapes and formats are real.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

TINY_DEMUCS_SIG = "0000tiny"
DEMUCS_SOURCES = ["drums", "bass", "other", "vocals"]
TINY_DEMUCS = dict(channels=4, t_layers=1, t_heads=1, t_hidden_scale=1.0, dconv_comp=2, t_cape_augment=False)
TRANSLATION_CORPUS = (
    "the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore",
    "o rato roeu a roupa do rei de roma", "hoje o dia esta bonito e claro",
    "la casa es grande y el perro es pequeno", "bonjour tout le monde comment allez vous",
)


def build_translation(out: Path, seed: int = 0) -> Path:
    """An NLLB-style model: M2M100 architecture, NllbTokenizer, language codes as special tokens."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
    bpe.train_from_iterator(list(TRANSLATION_CORPUS) * 4, trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tokenizer = NllbTokenizer(vocab=state["vocab"], merges=merges, src_lang="eng_Latn", tgt_lang="por_Latn")
    tokenizer.add_special_tokens({"mask_token": "<mask>"})
    size = len(tokenizer)
    # Random outputs are kept to words: <s>, <pad>, <unk> and <mask> are never generated (language
    # codes may be: the target code is forced first, and decoding skips special tokens).
    specials = [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "<unk>", "<mask>")]
    config = M2M100Config(vocab_size=size, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                          decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=256,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                          scale_embedding=True)
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(decoder_start_token_id=2, bos_token_id=0, eos_token_id=2,
                                               pad_token_id=1, max_length=24, min_new_tokens=3,
                                               suppress_tokens=specials)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_demucs(out: Path, seed: int = 0, segment: Fraction = Fraction(4, 1)) -> Path:
    """A tiny HTDemucs in demucs' Hub layout: ``htdemucs.yaml`` + ``<sig>.safetensors`` (class and
    arguments as JSON metadata, the state as tensors)."""
    import torch
    from demucs.htdemucs import HTDemucs

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    kwargs = {"sources": DEMUCS_SOURCES, "segment": segment, **TINY_DEMUCS}
    model = HTDemucs(**kwargs)
    write_demucs_safetensors(model, out / f"{TINY_DEMUCS_SIG}.safetensors")
    (out / "htdemucs.yaml").write_text(f"models: ['{TINY_DEMUCS_SIG}']\n", encoding="utf-8")
    return out


def write_demucs_safetensors(model, path: Path) -> Path:
    """``model`` as demucs' ``tools/export_hf.py`` writes it: tensors, and the class and its
    arguments as JSON (a Fraction as ``{"_type": "fraction", ...}``) in the metadata."""
    from safetensors.torch import save_file

    args, kwargs = model._init_args_kwargs

    def encode(value):
        if isinstance(value, Fraction):
            return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        return value

    klass = f"{type(model).__module__}.{type(model).__name__}"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"klass": klass, "args": json.dumps(encode(list(args))),
                                          "kwargs": json.dumps(encode(kwargs))})
    return path


def build_pipeline_models(root: Path, seed: int = 0, speech=None) -> dict[str, str]:
    """Every tiny model the video pipeline needs; returns the variables to set. ``speech``: tiny
    Whisper and WavLM already built (``devtools.tiny_speech.SpeechModels``), else they are built here."""
    from devtools.tiny_speech import SpeechModels, build_wavlm, build_whisper

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if speech is None:
        speech = SpeechModels(build_whisper(root / "whisper", seed=seed), build_wavlm(root / "wavlm", seed=seed))
    return {
        "VOICE_STUDIO_ASR_MODEL": str(speech.whisper),
        "VOICE_STUDIO_SPEAKER_MODEL": str(speech.wavlm),
        "VOICE_STUDIO_TRANSLATION_MODEL": str(build_translation(root / "translation", seed=seed)),
        "VOICE_STUDIO_SEPARATOR_MODEL": str(build_demucs(root / "demucs", seed=seed)),
    }


_built: dict[str, dict[str, str]] = {}


def pipeline_models(tmp_path_factory) -> dict[str, str]:
    """The tiny pipeline models, built once per test session (Whisper and WavLM shared with
    ``devtools.tiny_speech.speech_models``)."""
    from devtools.tiny_speech import speech_models

    if "env" not in _built:
        _built["env"] = build_pipeline_models(tmp_path_factory.mktemp("tiny_pipeline"),
                                              speech=speech_models(tmp_path_factory))
    return _built["env"]
