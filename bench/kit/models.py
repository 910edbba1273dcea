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

from devtools.tiny_models import build_f5_model, build_vocos_dir, ema_state_dict, train_xtts_tokenizer, vocos_config, \
    xtts_model

logger = logging.getLogger(__name__)

F5_ARCHS = {
    "F5TTS_v1_Base": dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4,
                          text_mask_padding=True, pe_attn_head=None),
    "F5TTS_Base": dict(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4,
                       text_mask_padding=False, pe_attn_head=1),
}

# charactr/vocos-mel-24khz's backbone.
VOCOS_YAML = vocos_config(dim=512, intermediate_dim=1536, num_layers=8)

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
    from f5_tts.infer.utils_infer import load_model
    from f5_tts.model import DiT
    from safetensors.torch import save_file

    rep = LoadReport()
    t0 = time.perf_counter()
    vocab_file = str(files("f5_tts").joinpath("infer/examples/vocab.txt"))
    model = build_f5_model(Path(vocab_file), F5_ARCHS[arch], seed=0)
    randomize_zero_inits(model)
    rep.build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ckpt = workdir / f"{arch}.safetensors"
    ema_sd = ema_state_dict(model)
    save_file(ema_sd, str(ckpt))
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

    d = build_vocos_dir(workdir / "vocos", seed=0, config=VOCOS_YAML)
    t0 = time.perf_counter()
    voc = load_vocoder("vocos", is_local=True, local_path=str(d), device=device)
    return voc.eval(), time.perf_counter() - t0


def build_xtts(device: str, workdir: Path, texts: list[str]):
    """Random full-size XTTS-v2 saved as model.pth, then loaded by ``Xtts.load_checkpoint``."""
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    rep = LoadReport()
    d = workdir / "xtts"
    d.mkdir(exist_ok=True)
    train_xtts_tokenizer(d / "vocab.json", ["en"], texts * 5, vocab_size=1000)
    t0 = time.perf_counter()
    cfg = XttsConfig()
    for k, v in XTTS_MODEL_ARGS.items():
        setattr(cfg.model_args, k, v)
    cfg.languages = ["en"]
    model = xtts_model(cfg, d / "vocab.json", seed=0)
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
