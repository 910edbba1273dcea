"""Full-size, randomly initialised models of every video-dubbing stage, built in code and saved in
the formats the app loads (the GPU machine cannot download; speed depends on shapes, not values).

- Whisper: ``openai/whisper-large-v3-turbo``'s config (32 encoder layers of 1280, 4 decoder
  layers, 128 mel bins, 51866 tokens). The tokenizer is byte-level with Whisper's special
  tokens and filler entries up to the real vocabulary size; generation is limited to
  letters and spaces and to ``WHISPER_TOKENS`` tokens a cue (random weights never stop).
- Translation: ``facebook/nllb-200-distilled-600M``'s config (M2M100, 12+12 layers of 1024,
  FFN 4096, 256206 tokens) with an ``NllbTokenizer`` of that size (letters, then fillers);
  generation limited to letter pieces, no piece twice, and ``NLLB_TOKENS`` tokens a line.
- Speakers: ``microsoft/wavlm-base-plus-sv``'s architecture (``WavLMConfig`` defaults: 12
  layers of 768, x-vector head of 512).
- Separation: ``HTDemucs`` with its default arguments and htdemucs' 7.8 s segment, in
  demucs' Hub layout (``htdemucs.yaml`` + safetensors).
- F5-TTS F5TTS_Base and Vocos: ``bench.studio.build_models``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

WHISPER_TOKENS = 24        # about what a 6 s cue's words take
NLLB_TOKENS = 32


# ``openai/whisper-large-v3-turbo``'s shape.
WHISPER_SHAPE = dict(num_mel_bins=128, d_model=1280, encoder_layers=32, decoder_layers=4, encoder_attention_heads=20,
                     decoder_attention_heads=20, encoder_ffn_dim=5120, decoder_ffn_dim=5120, max_target_positions=448)


def build_whisper(out: Path) -> Path:
    from devtools.tiny_speech import build_whisper as whisper_of_shape

    return whisper_of_shape(out, seed=0, max_tokens=WHISPER_TOKENS + 4, shape=WHISPER_SHAPE, vocab_size=51866)


def build_nllb(out: Path) -> Path:
    import torch
    from transformers import GenerationConfig, M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    out.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in [f"▁{c}" for c in letters] + list(letters):
        vocab[piece] = len(vocab)
    while len(vocab) < 256000:
        vocab[f"▁filler{len(vocab)}"] = len(vocab)
    tokenizer = NllbTokenizer(vocab=vocab, merges=[], src_lang="eng_Latn", tgt_lang="por_Latn")
    keep = {vocab[p] for p in [f"▁{c}" for c in letters] + list(letters)} | {2}
    size = len(tokenizer)
    forced = {tokenizer.convert_tokens_to_ids(code) for code in ("por_Latn", "eng_Latn")}
    suppress = [i for i in range(size) if i not in keep and i not in forced]
    config = M2M100Config(vocab_size=size, d_model=1024, encoder_layers=12, decoder_layers=12,
                          encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
                          decoder_ffn_dim=4096, max_position_embeddings=1024, scale_embedding=True,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
    torch.manual_seed(0)
    model = M2M100ForConditionalGeneration(config)
    # Random tied embeddings make each step repeat the token before it: the language code forced
    # first would fill the line, and one letter would fill it after. The codes are biased away
    # (they cannot be suppressed while forced) and no piece repeats, so lines are words.
    model.generation_config = GenerationConfig(decoder_start_token_id=2, bos_token_id=0, eos_token_id=2,
                                               pad_token_id=1, max_length=NLLB_TOKENS, suppress_tokens=suppress,
                                               sequence_bias=[[[code], -1000.0] for code in sorted(forced)],
                                               no_repeat_ngram_size=1)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_wavlm(out: Path) -> Path:
    from devtools.tiny_speech import build_wavlm as wavlm_of_shape

    return wavlm_of_shape(out, seed=0, shape={})


def build_demucs(out: Path) -> Path:
    import torch
    from demucs.htdemucs import HTDemucs

    from devtools.tiny_pipeline_models import DEMUCS_SOURCES, write_demucs_safetensors

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    write_demucs_safetensors(HTDemucs(sources=DEMUCS_SOURCES, segment=Fraction(39, 5)), out / "955717e8.safetensors")
    (out / "htdemucs.yaml").write_text("models: ['955717e8']\n", encoding="utf-8")
    return out


def build_all(root: Path, quick: bool) -> dict[str, str]:
    """The variables that point the app at every stage's model (tiny ones with ``quick``)."""
    if quick:
        from devtools.tiny_pipeline_models import build_pipeline_models

        return build_pipeline_models(root)
    return {"VOICE_STUDIO_ASR_MODEL": str(build_whisper(root / "whisper")),
            "VOICE_STUDIO_TRANSLATION_MODEL": str(build_nllb(root / "nllb")),
            "VOICE_STUDIO_SPEAKER_MODEL": str(build_wavlm(root / "wavlm")),
            "VOICE_STUDIO_SEPARATOR_MODEL": str(build_demucs(root / "demucs"))}
