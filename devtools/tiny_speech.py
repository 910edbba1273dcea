"""Tiny, randomly initialised speech models in the real ``save_pretrained`` layouts.

- Whisper: ``WhisperConfig`` with a 32-wide model, a byte-level BPE tokenizer written
  here (the 256 byte symbols, Whisper's special tokens and five language tokens), the
  real ``WhisperFeatureExtractor`` and a generation config with the language and task
  tables the ASR pipeline reads. Its output is random letters: the generation config
  suppresses every token that is not a letter, so a transcript always has words to give.
- WavLM: ``WavLMForXVector`` a few channels wide, with ``Wav2Vec2FeatureExtractor``.

Both load through ``transformers``' own ``from_pretrained`` and pipeline, on the CPU, in
well under a second each. ``speech_models(tmp_path_factory)`` builds them once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("en", "pt", "es", "fr", "de")
SPECIAL = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{code}|>" for code in LANGUAGES]
           + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
              "<|notimestamps|>"])


# A Whisper 32 wide, one layer each side (``openai/whisper-large-v3-turbo`` is num_mel_bins 128,
# d_model 1280, 32 encoder and 4 decoder layers of 20 heads, FFN 5120, 448 target positions).
TINY_WHISPER = dict(num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                    decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_target_positions=64)
# A WavLM x-vector model a few channels wide (``WavLMConfig()``'s defaults are the base-plus-sv shape).
TINY_WAVLM = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                  conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                  num_conv_pos_embedding_groups=2, tdnn_dim=(16, 16), tdnn_kernel=(3, 1), tdnn_dilation=(1, 1),
                  xvector_output_dim=8, num_buckets=32, max_bucket_distance=100)


@dataclass(frozen=True)
class SpeechModels:
    whisper: Path
    wavlm: Path


def build_whisper(out: Path, seed: int = 0, max_tokens: int = 12, shape: dict = TINY_WHISPER,
                  vocab_size: int | None = None) -> Path:
    """A Whisper of this ``shape`` whose vocabulary is padded with filler tokens up to ``vocab_size``
    (None: the byte symbols and special tokens alone)."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperTokenizer)

    out.mkdir(parents=True, exist_ok=True)
    vocab = {symbol: index for index, symbol in enumerate(sorted(ByteLevel.alphabet()))}
    for token in SPECIAL:
        vocab[token] = len(vocab)
    while vocab_size is not None and len(vocab) < vocab_size:
        vocab[f"<|filler{len(vocab)}|>"] = len(vocab)
    ids = {token: vocab[token] for token in SPECIAL}
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL[1:]})
    letters = set("abcdefghijklmnopqrstuvwxyz") | {"Ġ"}  # Ġ: the byte-level space
    suppress = [index for symbol, index in vocab.items() if symbol not in letters and symbol != "<|endoftext|>"]
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(vocab_size=len(vocab), max_source_positions=1500, decoder_start_token_id=sot,
                           bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, **shape)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, max_length=max_tokens,
        is_multilingual=True, lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        task_to_id={"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        suppress_tokens=suppress, begin_suppress_tokens=[eot])
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=shape["num_mel_bins"]).save_pretrained(out)
    return out


def build_wavlm(out: Path, seed: int = 0, shape: dict = TINY_WAVLM) -> Path:
    """A ``WavLMForXVector`` of this ``shape`` (``{}``: the library's default, full-size one)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    out.mkdir(parents=True, exist_ok=True)
    config = WavLMConfig(**shape)
    torch.manual_seed(seed)
    WavLMForXVector(config).save_pretrained(out)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(out)
    return out


_built: dict[str, SpeechModels] = {}


def speech_models(tmp_path_factory) -> SpeechModels:
    """The tiny models, built once per test session (shared by every test module that asks)."""
    if "models" not in _built:
        root = tmp_path_factory.mktemp("tiny_speech")
        _built["models"] = SpeechModels(build_whisper(root / "whisper"), build_wavlm(root / "wavlm"))
    return _built["models"]

