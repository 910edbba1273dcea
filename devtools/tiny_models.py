"""Build tiny, randomly initialised models in the real on-disk formats.

The files are what the real libraries read: an F5-TTS checkpoint (safetensors or
``.pt``, in every key layout seen in the wild), a ``vocab.txt``, a JSON file of DiT
keyword arguments, a Vocos directory (``config.yaml`` + ``pytorch_model.bin``) and an
XTTS-v2 directory (``config.json``, ``model.pth``, ``vocab.json``,
``speakers_xtts.pth``). Tests point the engines at them through the same environment
variables users set. Random weights make noise, not speech.

Run ``python -m devtools.tiny_models DIR`` (or ``python -m tests.tiny_models DIR``, as the README
has it) to build a set and print the variables to export.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

TINY_VOCAB = [" "] + list("abcdefghijklmnopqrstuvwxyz") + list(".,!?'-")  # 33 entries
TINY_DIT = dict(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=1,
                text_mask_padding=False, pe_attn_head=1)
XTTS_SPEAKERS = ("Ana Florence", "Damien Black")
XTTS_LANGUAGES = ("en", "pt", "es", "fr", "de")
# Every language XTTS-v2 speaks, for a tiny model that declares them all (the default set
# above leaves some out, so tests can ask for a language no engine serves).
XTTS_ALL_LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "ja",
                      "hu", "ko", "hi")

# The tokenizer's training text: a few words of each tiny model's languages, and every letter.
XTTS_CORPUS = ("the quick brown fox jumps over the lazy dog", "ola mundo como vai voce hoje",
               "hola que tal estas", "bonjour tout le monde", "hallo wie geht es dir",
               "abcdefghijklmnopqrstuvwxyz 0123456789 .,!?'-")


def vocos_config(dim: int = 32, intermediate_dim: int = 64, num_layers: int = 1) -> str:
    """A Vocos ``config.yaml``: ``charactr/vocos-mel-24khz``'s mel features and ISTFT head around a
    backbone of this size (the published one is 512 / 1536 / 8)."""
    return f"""\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args:
    sample_rate: 24000
    n_fft: 1024
    hop_length: 256
    n_mels: 100
    padding: center
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 100
    dim: {dim}
    intermediate_dim: {intermediate_dim}
    num_layers: {num_layers}
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: {dim}
    n_fft: 1024
    hop_length: 256
    padding: center
"""


VOCOS_CONFIG = vocos_config()


@dataclass(frozen=True)
class TinyModels:
    f5_ckpt: Path  # trainer layout: ema_model.* + initted + step, safetensors
    f5_vocab: Path
    f5_arch: Path
    vocos_dir: Path
    xtts_dir: Path

    def env(self) -> dict[str, str]:
        return {
            "F5TTS_CKPT": str(self.f5_ckpt),
            "F5TTS_VOCAB": str(self.f5_vocab),
            "F5TTS_ARCH": str(self.f5_arch),
            "F5TTS_LANGUAGES": "pt-BR,en",
            "F5TTS_VOCODER": str(self.vocos_dir),
            "XTTS_MODEL": str(self.xtts_dir),
        }


def write_vocab(path: Path, entries: list[str] = TINY_VOCAB) -> Path:
    path.write_text("\n".join(entries) + "\n", encoding="utf-8")
    return path


def build_f5_model(vocab_path: Path, dit_kwargs: dict = TINY_DIT, seed: int = 0):
    """The CFM model exactly as ``f5_tts.infer.utils_infer.load_model`` assembles it."""
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer

    torch.manual_seed(seed)
    vocab_char_map, vocab_size = get_tokenizer(str(vocab_path), "custom")
    return CFM(
        transformer=DiT(**dit_kwargs, text_num_embeds=vocab_size, mel_dim=100),
        mel_spec_kwargs=dict(n_fft=1024, hop_length=256, win_length=1024, n_mel_channels=100,
                             target_sample_rate=24000, mel_spec_type="vocos"),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map=vocab_char_map,
    )


def ema_state_dict(model) -> dict[str, torch.Tensor]:
    """The trainer's EMA layout: ``ema_model.*`` keys plus ``initted`` and ``step``."""
    from ema_pytorch import EMA

    return {k: v.detach().clone().contiguous() for k, v in EMA(model, include_online_model=False).state_dict().items()}


def write_f5_variant(state: dict[str, torch.Tensor], path: Path, layout: str) -> Path:
    """Write ``state`` (EMA layout) as one of the layouts seen in the wild.

    layout: ``ema_model`` | ``ema`` | ``bare`` | ``module`` | ``pt_ema`` | ``pt_training``.
    """
    from safetensors.torch import save_file

    bare = {k.removeprefix("ema_model."): v for k, v in state.items() if k.startswith("ema_model.")}
    if layout == "ema_model":
        save_file(state, str(path))
    elif layout == "ema":  # keys as some fine-tunes publish them (e.g. reports for F5-TTS-pt-br)
        save_file({f"ema.{k}": v for k, v in bare.items()}, str(path))
    elif layout == "bare":
        save_file(bare, str(path))
    elif layout == "module":  # DataParallel / DDP wrapper prefix
        save_file({f"module.{k}": v for k, v in bare.items()}, str(path))
    elif layout == "pt_ema":
        torch.save({"ema_model_state_dict": state}, path)
    elif layout == "pt_training":  # a full training checkpoint, optimizer state included
        model_sd = {k: v.clone() for k, v in bare.items()}
        torch.save({
            "model_state_dict": model_sd,
            "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
            "ema_model_state_dict": state,
            "scheduler_state_dict": {"last_epoch": 3},
            "update": 3,
        }, path)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return path


def build_vocos_dir(directory: Path, seed: int = 0, config: str = VOCOS_CONFIG) -> Path:
    """A Vocos directory as ``load_vocoder(is_local=True)`` reads it: ``config.yaml`` + ``pytorch_model.bin``."""
    from vocos import Vocos

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(config)
    torch.manual_seed(seed)
    vocos = Vocos.from_hparams(str(directory / "config.yaml"))
    torch.save(vocos.state_dict(), directory / "pytorch_model.bin")
    return directory


def train_xtts_tokenizer(path: Path, languages: tuple[str, ...] | list[str], corpus: list[str] | tuple[str, ...],
                         vocab_size: int = 120) -> None:
    """An XTTS ``vocab.json``: a BPE trained on ``corpus`` with coqui's special and language tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{lang}]" for lang in languages]
    tokenizer.train_from_iterator(list(corpus), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials))
    tokenizer.save(str(path))


def xtts_model(cfg, vocab: Path, seed: int = 0):
    """``Xtts(cfg)`` with its tokenizer and sub-models made, randomly initialised from ``seed``."""
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    torch.manual_seed(seed)
    model = Xtts(cfg)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(vocab))
    model.init_models()
    return model


def tiny_xtts_model(directory: Path, text: str, layers: int, max_audio_tokens: int):
    """A tiny in-memory XTTS (seed 0) whose BPE tokenizer is trained on ``text``: for tests that
    compare the accelerator with upstream on one sentence."""
    from TTS.tts.configs.xtts_config import XttsConfig

    train_xtts_tokenizer(directory / "vocab.json", ("en",),
                         [text, "the quick brown fox jumps over the lazy dog"] * 20)
    cfg = XttsConfig()
    a = cfg.model_args
    a.gpt_layers, a.gpt_n_model_channels, a.gpt_n_heads, a.decoder_input_dim = layers, 64, 2, 64
    a.gpt_max_audio_tokens, a.gpt_num_audio_tokens = max_audio_tokens, 1026
    a.gpt_start_audio_token, a.gpt_stop_audio_token = 1024, 1025
    a.gpt_use_perceiver_resampler = True
    cfg.languages = ["en"]
    return xtts_model(cfg, directory / "vocab.json")


def spread_gpt_weights(model, std: float = 0.2) -> None:
    """A larger init of the GPT's matrices spreads the logits: greedy near-ties would make
    token-for-token comparisons flaky."""
    with torch.no_grad():
        for p in model.gpt.gpt.parameters():
            if p.ndim == 2:
                p.normal_(0, std)


def hold_back_stop_token(model, stop_token: int, bias: float = -1e4) -> None:
    """Random weights make the stop token likely at any step: about one seed in forty ends a
    decode after a few tokens, the app's sanity guard refuses that audio and F5-TTS serves
    instead, so a test that draws its seed would pass or fail on luck. A trained model reads
    the whole sentence; this one never stops before its token limit (the stop logit's bias)."""
    with torch.no_grad():
        model.gpt.mel_head.bias[stop_token] = bias


def build_xtts_dir(directory: Path, languages: tuple[str, ...] = XTTS_LANGUAGES,
                   speakers: tuple[str, ...] = XTTS_SPEAKERS, max_audio_tokens: int = 50,
                   seed: int = 0) -> Path:
    """A tiny XTTS-v2 directory that ``Xtts.load_checkpoint`` reads like the real one."""
    from TTS.tts.configs.xtts_config import XttsConfig

    directory.mkdir(parents=True, exist_ok=True)
    train_xtts_tokenizer(directory / "vocab.json", languages, XTTS_CORPUS)
    cfg = XttsConfig()
    args = cfg.model_args
    args.gpt_layers, args.gpt_n_model_channels, args.gpt_n_heads = 1, 64, 2
    args.decoder_input_dim = 64
    args.gpt_max_audio_tokens = max_audio_tokens
    args.gpt_num_audio_tokens, args.gpt_start_audio_token, args.gpt_stop_audio_token = 1026, 1024, 1025
    args.gpt_number_text_tokens = 120
    args.gpt_use_perceiver_resampler = True
    cfg.languages = list(languages)
    cfg.temperature, cfg.repetition_penalty, cfg.top_k, cfg.top_p = 0.75, 5.0, 50, 0.85
    cfg.save_json(str(directory / "config.json"))

    model = xtts_model(cfg, directory / "vocab.json", seed)
    hold_back_stop_token(model, args.gpt_stop_audio_token)
    torch.save({"model": model.state_dict()}, directory / "model.pth")

    generator = torch.Generator().manual_seed(seed + 1)
    voices = {
        name: {
            "gpt_cond_latent": torch.randn(1, 32, args.gpt_n_model_channels, generator=generator) * 0.1,
            "speaker_embedding": torch.nn.functional.normalize(torch.randn(1, 512, 1, generator=generator), dim=1),
        }
        for name in speakers
    }
    torch.save(voices, directory / "speakers_xtts.pth")
    return directory


def build_all(root: Path, seed: int = 0) -> TinyModels:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vocab = write_vocab(root / "vocab.txt")
    arch = root / "tiny_dit.json"
    arch.write_text(json.dumps(TINY_DIT))
    ckpt = write_f5_variant(ema_state_dict(build_f5_model(vocab, seed=seed)), root / "f5_tiny.safetensors", "ema_model")
    return TinyModels(
        f5_ckpt=ckpt, f5_vocab=vocab, f5_arch=arch,
        vocos_dir=build_vocos_dir(root / "vocos", seed=seed),
        xtts_dir=build_xtts_dir(root / "xtts", seed=seed),
    )


def main(argv: list[str] | None = None) -> None:
    """Build a set in ``argv[0]`` (default ``tiny_models``) and print the ``export`` lines for it."""
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0] if argv else "tiny_models")
    models = build_all(target)
    for key, value in models.env().items():
        value = value if key == "F5TTS_LANGUAGES" else os.path.abspath(value)
        sys.stdout.write(f"export {key}={value}\n")
    # The video-dubbing pipeline's models: Whisper, WavLM, translation, Demucs.
    from devtools.tiny_pipeline_models import build_pipeline_models

    for key, value in build_pipeline_models(target / "pipeline").items():
        sys.stdout.write(f"export {key}={os.path.abspath(value)}\n")


if __name__ == "__main__":
    main()
