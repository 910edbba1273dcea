"""Full-size, randomly initialised models of the real architectures, built in code.

Speed depends on shapes, not weight values, and the GPU machine cannot download, so the
configs are written out here from the published ones:

- F5TTS_v1_Base / F5TTS_Base: ``f5_tts/configs/*.yaml`` arch (DiT dim 1024, depth 22,
  heads 16, ff_mult 2, text_dim 512, conv_layers 4; v0: text_mask_padding False,
  pe_attn_head 1), the packaged 2545-line vocab;
- Vocos: ``charactr/vocos-mel-24khz`` config.yaml (backbone dim 512, intermediate 1536,
  8 layers; ISTFT head n_fft 1024, hop 256, padding "center");
- XTTS-v2: ``coqui/XTTS-v2`` config.json model_args (GPT 30 x 1024, 16 heads, perceiver
  resampler, 1026 audio tokens, max 605 audio / 402 text tokens, HiFi-GAN 1024 in,
  speaker embedding 512). The tokenizer is a BPE trained here on the benchmark texts,
  so the text-embedding table is smaller than the real 6681 rows (only a lookup).

Loading goes through upstream's own loaders from a checkpoint written to a temp dir
(F5: ``load_model`` from safetensors; XTTS: ``Xtts.load_checkpoint``), which also gives
the cold-start figures.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

F5_ARCHS = {
    "F5TTS_v1_Base": dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4,
                          text_mask_padding=True, pe_attn_head=None),
    "F5TTS_Base": dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4,
                       text_mask_padding=False, pe_attn_head=1),
}

VOCOS_YAML = """\
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
    dim: 512
    intermediate_dim: 1536
    num_layers: 8
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: 512
    n_fft: 1024
    hop_length: 256
    padding: center
"""

XTTS_MODEL_ARGS = dict(
    gpt_batch_size=1, kv_cache=True, gpt_max_audio_tokens=605, gpt_max_text_tokens=402, gpt_max_prompt_tokens=70,
    gpt_layers=30, gpt_n_model_channels=1024, gpt_n_heads=16, gpt_number_text_tokens=6681,
    gpt_num_audio_tokens=1026, gpt_start_audio_token=1024, gpt_stop_audio_token=1025, gpt_code_stride_len=1024,
    gpt_use_masking_gt_prompt_approach=True, gpt_use_perceiver_resampler=True, input_sample_rate=22050,
    output_sample_rate=24000, output_hop_length=256, decoder_input_dim=1024, d_vector_dim=512,
    cond_d_vector_in_each_upsampling_layer=True,
)


@dataclass
class LoadReport:
    """Cold-start figures of one engine load."""

    build_s: float = 0.0
    checkpoint_bytes: int = 0
    save_s: float = 0.0
    load_s: float = 0.0
    bytes_written_by_load: int = 0
    extra: dict = field(default_factory=dict)


def randomize_zero_inits(module: torch.nn.Module, std: float = 0.02, seed: int = 1) -> int:
    """DiT zero-initialises AdaLN and output layers, which would make every block the identity.

    Random values there make the correctness check compare real computations. Returns the
    number of tensors changed.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = 0
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim >= 1 and torch.count_nonzero(p) == 0:
                p.copy_((torch.randn(p.shape, generator=gen) * std).to(p.dtype))
                n += 1
    return n


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build_f5(arch: str, device: str, workdir: Path):
    """Random full-size CFM saved as a trainer-layout safetensors, then loaded by ``load_model``."""
    from ema_pytorch import EMA
    from f5_tts.infer.utils_infer import load_model
    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer
    from safetensors.torch import save_file

    rep = LoadReport()
    t0 = time.perf_counter()
    vocab_file = str(files("f5_tts").joinpath("infer/examples/vocab.txt"))
    vocab_map, vocab_size = get_tokenizer(vocab_file, "custom")
    torch.manual_seed(0)
    model = CFM(transformer=DiT(**F5_ARCHS[arch], text_num_embeds=vocab_size, mel_dim=100),
                mel_spec_kwargs=dict(n_fft=1024, hop_length=256, win_length=1024, n_mel_channels=100,
                                     target_sample_rate=24000, mel_spec_type="vocos"),
                vocab_char_map=vocab_map)
    randomize_zero_inits(model)
    rep.build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ckpt = workdir / f"{arch}.safetensors"
    ema_sd = EMA(model, include_online_model=False).state_dict()
    save_file({k: v.contiguous() for k, v in ema_sd.items()}, str(ckpt))
    rep.save_s = time.perf_counter() - t0
    rep.checkpoint_bytes = ckpt.stat().st_size
    del model, ema_sd
    before = _dir_bytes(workdir)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    t0 = time.perf_counter()
    model = load_model(DiT, {k: v for k, v in F5_ARCHS[arch].items()}, str(ckpt), vocab_file=vocab_file,
                       device=device)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    rep.load_s = time.perf_counter() - t0
    rep.bytes_written_by_load = _dir_bytes(workdir) - before
    return model.eval(), rep


def build_vocos(device: str, workdir: Path):
    """Random full-size Vocos, loaded by upstream ``load_vocoder(is_local=True)``."""
    from f5_tts.infer.utils_infer import load_vocoder
    from vocos import Vocos

    d = workdir / "vocos"
    d.mkdir(exist_ok=True)
    (d / "config.yaml").write_text(VOCOS_YAML)
    torch.manual_seed(0)
    torch.save(Vocos.from_hparams(str(d / "config.yaml")).state_dict(), d / "pytorch_model.bin")
    t0 = time.perf_counter()
    voc = load_vocoder("vocos", is_local=True, local_path=str(d), device=device)
    return voc.eval(), time.perf_counter() - t0


def _train_tokenizer(texts: list[str], path: Path, languages: list[str]) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{lang}]" for lang in languages]
    tok.train_from_iterator(texts * 5, trainers.BpeTrainer(vocab_size=1000, special_tokens=specials))
    tok.save(str(path))


def build_xtts(device: str, workdir: Path, texts: list[str]):
    """Random full-size XTTS-v2 saved as model.pth, then loaded by ``Xtts.load_checkpoint``."""
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    rep = LoadReport()
    d = workdir / "xtts"
    d.mkdir(exist_ok=True)
    _train_tokenizer(texts, d / "vocab.json", ["en"])
    t0 = time.perf_counter()
    cfg = XttsConfig()
    for k, v in XTTS_MODEL_ARGS.items():
        setattr(cfg.model_args, k, v)
    cfg.languages = ["en"]
    torch.manual_seed(0)
    model = Xtts(cfg)
    model.tokenizer = VoiceBpeTokenizer(str(d / "vocab.json"))
    model.init_models()
    rep.build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch.save({"model": model.state_dict()}, d / "model.pth")
    cfg.save_json(str(d / "config.json"))
    rep.save_s = time.perf_counter() - t0
    rep.checkpoint_bytes = (d / "model.pth").stat().st_size
    del model
    cfg = XttsConfig()
    cfg.load_json(str(d / "config.json"))
    before = _dir_bytes(d)
    t0 = time.perf_counter()
    model = Xtts(cfg)
    model.load_checkpoint(cfg, checkpoint_dir=str(d), eval=True)
    model.to(device)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    rep.load_s = time.perf_counter() - t0
    rep.bytes_written_by_load = _dir_bytes(d) - before
    rep.extra["text_vocab"] = model.tokenizer.get_number_tokens()
    return model, rep


def workdir() -> Path:
    base = os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="voice-bench-")
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p
