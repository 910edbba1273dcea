"""F5Accelerator computes upstream's function: tiny random F5-TTS model on CPU.

Upstream here is ``f5_tts.infer.utils_infer.infer_batch_process`` itself, on the same
model object, with the same global seed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

utils_infer = pytest.importorskip("f5_tts.infer.utils_infer")
from f5_tts.model import CFM, DiT  # noqa: E402
from vocos import Vocos  # noqa: E402
from vocos.feature_extractors import MelSpectrogramFeatures  # noqa: E402
from vocos.heads import ISTFTHead  # noqa: E402
from vocos.models import VocosBackbone  # noqa: E402

from engines.f5.accel.f5 import F5Accelerator  # noqa: E402
from engines.f5.accel.f5_upstream import upstream_chunks  # noqa: E402

VOCAB = list(" abcdefghijklmnopqrstuvwxyz.,!?'-")
REF_TEXT = "a short reference sentence. "
NFE = 6


def _randomize_zero_inits(module: torch.nn.Module, std: float = 0.02) -> None:
    """DiT zero-initialises its AdaLN and output layers; random values make the test bite."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim >= 1 and torch.count_nonzero(p) == 0:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def _tiny_cfm(v1: bool) -> CFM:
    torch.manual_seed(0)
    arch = dict(text_mask_padding=True, pe_attn_head=None) if v1 else dict(text_mask_padding=False, pe_attn_head=1)
    dit = DiT(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=1,
              text_num_embeds=len(VOCAB), mel_dim=100, **arch)
    model = CFM(
        transformer=dit,
        mel_spec_kwargs=dict(n_fft=1024, hop_length=256, win_length=1024, n_mel_channels=100,
                             target_sample_rate=24000, mel_spec_type="vocos"),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map={c: i for i, c in enumerate(VOCAB)},
    )
    _randomize_zero_inits(model, std=0.2)
    return model.eval()


@pytest.fixture(scope="module")
def vocoder() -> Vocos:
    torch.manual_seed(0)
    voc = Vocos(
        feature_extractor=MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100,
                                                 padding="center"),
        backbone=VocosBackbone(input_channels=100, dim=32, intermediate_dim=64, num_layers=1),
        head=ISTFTHead(dim=32, n_fft=1024, hop_length=256, padding="center"),
    )
    return voc.eval()


def _reference(seconds: float = 1.5, amplitude: float = 0.05) -> torch.Tensor:
    t = torch.arange(int(24000 * seconds)) / 24000
    return (amplitude * torch.sin(2 * torch.pi * 220 * t) * (1 + 0.5 * torch.sin(2 * torch.pi * 3 * t))).unsqueeze(0)


def _upstream(model, vocoder, ref, text, seed):
    torch.manual_seed(seed)
    wave, sr, mel = next(utils_infer.infer_batch_process(
        (ref, 24000), REF_TEXT, [text], model, vocoder, progress=None, nfe_step=NFE, device="cpu"))
    assert sr == 24000
    return wave, mel.T  # mel [frames, 100]


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("v1", [True, False], ids=["v1", "v0"])
def test_single_chunk_matches_upstream(vocoder, v1):
    model = _tiny_cfm(v1)
    acc = F5Accelerator(model, vocoder, "cpu")
    ref = _reference()
    text = "hello there, how are you today?"
    up_wave, up_mel = _upstream(model, vocoder, ref, text, seed=7)
    mels, _ = acc.sample_mels(ref, REF_TEXT, [text], nfe_step=NFE, seed=7)
    waves = acc.infer(ref, REF_TEXT, [text], nfe_step=NFE, seed=7)
    assert mels[0].shape == up_mel.shape
    assert _rel(mels[0].numpy(), up_mel) < 1e-4
    assert waves[0].dtype == np.float32 and waves[0].shape == up_wave.shape
    assert _rel(waves[0], up_wave) < 1e-3


@pytest.mark.slow
def test_batched_chunks_match_upstream_one_by_one(vocoder):
    """Chunks of different lengths share one padded forward, yet each equals its solo run."""
    model = _tiny_cfm(True)
    acc = F5Accelerator(model, vocoder, "cpu")
    ref = _reference()
    texts = ["first chunk of text, rather long indeed.", "second one.", "hi"]  # "hi": upstream's slow-speed rule
    torch.manual_seed(3)  # upstream draws each chunk's noise from the global generator, in order
    ups = []
    for t in texts:
        wave, sr, mel = next(utils_infer.infer_batch_process(
            (ref, 24000), REF_TEXT, [t], model, vocoder, progress=None, nfe_step=NFE, device="cpu"))
        ups.append((wave, mel.T))
    mels, _ = acc.sample_mels(ref, REF_TEXT, texts, nfe_step=NFE, seed=3)
    waves = acc.infer(ref, REF_TEXT, texts, nfe_step=NFE, seed=3)
    assert len({m.shape[0] for m in mels}) == 3  # really different lengths
    for (up_wave, up_mel), mel, wave in zip(ups, mels, waves):
        assert mel.shape == up_mel.shape
        assert _rel(mel.numpy(), up_mel) < 1e-4
        assert _rel(wave, up_wave) < 1e-3


def test_loud_reference_and_no_cfg(vocoder):
    """A reference above target RMS is not rescaled; cfg_strength 0 takes upstream's no-CFG branch."""
    model = _tiny_cfm(True)
    acc = F5Accelerator(model, vocoder, "cpu")
    ref = _reference(amplitude=0.5)
    text = "loud reference here."
    torch.manual_seed(5)
    up_wave, _, up_mel = next(utils_infer.infer_batch_process(
        (ref, 24000), REF_TEXT, [text], model, vocoder, progress=None, nfe_step=NFE, cfg_strength=0.0,
        device="cpu"))
    mels, _ = acc.sample_mels(ref, REF_TEXT, [text], nfe_step=NFE, cfg_strength=0.0, seed=5)
    assert _rel(mels[0].numpy(), up_mel.T) < 1e-4


def test_reference_mel_is_cached(vocoder):
    acc = F5Accelerator(_tiny_cfm(True), vocoder, "cpu")
    ref = _reference()
    acc.infer(ref, REF_TEXT, ["one."], nfe_step=2, seed=0)
    acc.infer(ref.clone(), REF_TEXT, ["two."], nfe_step=2, seed=0)
    assert len(acc._refs) == 1


def test_upstream_chunking_rule():
    text = "One sentence here. " * 30
    chunks = upstream_chunks(6.0, "a reference transcript of some length. ", text)
    assert len(chunks) > 1 and " ".join(chunks).split() == text.split()


@pytest.mark.parametrize("text", [
    "The quick brown fox jumps over the lazy dog near the river; then, tired, it slept. " * 6,
    "Olá, tudo bem? Isto é um teste mais longo, em várias partes: ações, canções e lições. " * 5,
])
def test_the_engine_cuts_long_text_as_upstream_does(text):
    """F5's chunks are upstream infer_process's (byte budget from the reference), so lengths match it."""
    from engines.f5.f5_reference import F5Reference

    reference = F5Reference(audio=torch.zeros(1, 24000 * 5), text="Some words of the reference clip. ",
                            duration_s=5.0, transcript_trimmed=False)
    want = upstream_chunks(5.0, reference.text, text.strip(), 1.1)
    assert len(want) > 2 and reference.chunks(text.strip(), 1.1) == want


def test_a_text_without_punctuation_is_still_cut_into_bounded_chunks():
    from engines.f5.f5_reference import F5Reference

    reference = F5Reference(audio=torch.zeros(1, 24000 * 5), text="Some words of the reference clip. ",
                            duration_s=5.0, transcript_trimmed=False)
    text = " ".join(["word"] * 600)
    assert len(upstream_chunks(5.0, reference.text, text)) == 1  # upstream: one forward of any length
    chunks = reference.chunks(text, 1.0)
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 2 * reference.chunk_budget(1.0)
    assert " ".join(chunks).split() == text.split()


@pytest.mark.slow
def test_one_compiled_block_serves_every_block():
    """The functional DiT block compiles once for all blocks (weights are arguments, not guards)."""
    from torch._dynamo.testing import CompileCounter

    from engines.f5.accel.f5_step import CFGEulerStep, dit_block

    torch._dynamo.reset()
    step = CFGEulerStep(_tiny_cfm(True).transformer, torch.float32)
    counter = CompileCounter()
    step.block_fn = torch.compile(dit_block, backend=counter, dynamic=True)
    cos, sin = step.rope(50, "cpu")
    y = torch.randn(1, 50, 100)
    static_in = torch.randn(2, 50, 64)
    cos2, sin2 = step.rope(70, "cpu")
    with torch.inference_mode():  # two blocks, two lengths: still one compiled frame
        step(y, torch.tensor(0.3), torch.tensor(2.0), static_in, None, None, cos, sin)
        y2 = torch.randn(1, 70, 100)
        step(y2, torch.tensor(0.5), torch.tensor(2.0), torch.randn(2, 70, 64), None, None, cos2, sin2)
    assert counter.frame_count == 1


def test_concurrent_requests_are_serialised(vocoder):
    """Two threads share one accelerator (as Gradio workers would): results equal sequential ones."""
    from concurrent.futures import ThreadPoolExecutor

    acc = F5Accelerator(_tiny_cfm(True), vocoder, "cpu")
    ref = _reference()
    texts = [["first request."], ["second request, longer."]]
    expected = [acc.sample_mels(ref, REF_TEXT, t, nfe_step=2, seed=i)[0][0] for i, t in enumerate(texts)]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda it: acc.sample_mels(ref, REF_TEXT, it[1], nfe_step=2, seed=it[0])[0][0],
                            enumerate(texts)))
    for e, g in zip(expected, got):
        assert torch.equal(e, g)


def test_render_offers_a_turn_before_each_chunks_vocoding(vocoder):
    """``between`` runs before every chunk is vocoded (where the F5 engine lets a waiting XTTS decode
    slice take the device), once per chunk of every request, and the audio is the same with it."""
    acc = F5Accelerator(_tiny_cfm(True), vocoder, "cpu")
    ref = _reference()
    requests = [acc.prepare(ref, REF_TEXT, ["first chunk.", "second chunk here."], seed=1),
                acc.prepare(ref, REF_TEXT, ["only one."], seed=2)]
    turns: list[int] = []
    with_turns = acc.render(requests, nfe_step=NFE, between=lambda: turns.append(len(turns)))
    without = acc.render(requests, nfe_step=NFE)
    assert turns == [0, 1, 2]
    assert [len(w) for w in with_turns] == [2, 1]
    assert all(np.array_equal(a, b) for x, y in zip(with_turns, without) for a, b in zip(x, y))


def test_empty_reference_text_is_refused(vocoder):
    acc = F5Accelerator(_tiny_cfm(True), vocoder, "cpu")
    with pytest.raises(ValueError, match="transcript"):
        acc.infer(_reference(), "", ["hello."], nfe_step=2)


# ---- the block's kernels (engines/f5/accel/f5_block.py): each switch computes the reference's function ----

def _block_inputs(step, dtype, rows=4, frames=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    dim = step.w_x.shape[0]
    h = torch.randn(rows, frames, dim, generator=gen).to(dtype)
    t_emb = torch.randn(1, dim, generator=gen).to(dtype)
    lengths = torch.tensor([frames, frames - 3, frames // 2, 1])[:rows]
    mask = torch.arange(frames)[None, :] < lengths[:, None]
    return h, t_emb, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("v1", [True, False], ids=["v1", "v0"])
@pytest.mark.parametrize("switch", ["rope", "modulation", "residual", "residual=addcmul", "qkv", "mask_output"])
def test_each_block_kernel_gives_the_reference_block_at_valid_frames(switch, v1, dtype):
    """One switch at a time on padded rows (its default value, or the one named): complex RoPE and
    output masking are exact; fused ops and a gate folded into the weights round once."""
    from dataclasses import replace

    from engines.f5.accel.f5_block import StepKernels, fast_dit_block, fused_qkv_weights, rope_cis
    from engines.f5.accel.f5_step import CFGEulerStep

    model = _tiny_cfm(v1).to(dtype)
    step = CFGEulerStep(model.transformer, dtype)
    h, t_emb, mask = _block_inputs(step, dtype)
    cos, sin = step.rope(h.shape[1], "cpu")
    w = step.block_weights[1]
    reference = StepKernels.reference()
    switch, _, value = switch.partition("=")
    kernels = replace(reference, **{switch: value or getattr(StepKernels(), switch)}, fold_min_tokens=0)
    qkv = fused_qkv_weights(w)
    with torch.inference_mode():
        want = fast_dit_block(h, t_emb, mask, mask[:, None, None, :], cos, sin, None, w, None, step.heads,
                              step.pe_attn_head, reference)
        got = fast_dit_block(h, t_emb, mask, mask[:, None, None, :], cos, sin, rope_cis(cos, sin), w, qkv,
                             step.heads, step.pe_attn_head, kernels)
    assert torch.isfinite(got[mask]).all()
    err = _rel(got[mask].float().numpy(), want[mask].float().numpy())
    if switch in ("rope", "mask_output"):
        assert torch.equal(got[mask], want[mask])
    else:
        assert err < (1e-6 if dtype == torch.float32 else 2e-3), err


def test_the_folded_residual_is_addcmul_below_its_size():
    """Forwards smaller than ``fold_min_tokens`` rows x frames take addcmul (measured faster there)."""
    from dataclasses import replace

    from engines.f5.accel.f5_block import StepKernels, fast_dit_block
    from engines.f5.accel.f5_step import CFGEulerStep

    step = CFGEulerStep(_tiny_cfm(True).transformer, torch.float32)
    h, t_emb, mask = _block_inputs(step, torch.float32)
    cos, sin = step.rope(h.shape[1], "cpu")
    w = step.block_weights[0]
    tokens = h.shape[0] * h.shape[1]
    base = StepKernels.reference()

    def run(**switches):
        with torch.inference_mode():
            return fast_dit_block(h, t_emb, mask, mask[:, None, None, :], cos, sin, None, w, None, step.heads,
                                  step.pe_attn_head, replace(base, **switches))

    addcmul = run(residual="addcmul")
    assert torch.equal(run(residual="folded", fold_min_tokens=tokens + 1), addcmul)
    folded = run(residual="folded", fold_min_tokens=tokens)
    assert not torch.equal(folded, addcmul)  # another rounding: the fold ran
    assert _rel(folded[mask].numpy(), addcmul[mask].numpy()) < 1e-5


def test_the_default_block_runs_outside_inference_mode_too():
    """The in-place rotation works on plain no-grad tensors (benchmarks and scripts), not only in inference mode."""
    from engines.f5.accel.f5_block import StepKernels, fast_dit_block, fused_qkv_weights, rope_cis
    from engines.f5.accel.f5_step import CFGEulerStep

    step = CFGEulerStep(_tiny_cfm(True).transformer, torch.float32)
    h, t_emb, mask = _block_inputs(step, torch.float32)
    cos, sin = step.rope(h.shape[1], "cpu")
    w = step.block_weights[0]
    with torch.no_grad():
        out = fast_dit_block(h, t_emb, mask, mask[:, None, None, :], cos, sin, rope_cis(cos, sin), w,
                             fused_qkv_weights(w), step.heads, step.pe_attn_head,
                             StepKernels().for_device(torch.device("cpu"), torch.float32))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("v1", [True, False], ids=["v1", "v0"])
def test_fast_and_reference_kernels_sample_the_same_mels(vocoder, v1):
    """Whole requests, batched chunks of different lengths, fp32: the two ways agree with upstream alike."""
    from engines.f5.accel.f5 import F5AccelOptions
    from engines.f5.accel.f5_block import StepKernels

    model = _tiny_cfm(v1)
    ref = _reference()
    texts = ["first chunk of text, rather long indeed.", "second one.", "hi"]
    fast = F5Accelerator(model, vocoder, "cpu")
    slow = F5Accelerator(model, vocoder, "cpu", options=F5AccelOptions(kernels=StepKernels.reference()))
    assert fast.step.kernels.changes() and slow.step.kernels.is_reference
    a, _ = fast.sample_mels(ref, REF_TEXT, texts, nfe_step=NFE, seed=3)
    b, _ = slow.sample_mels(ref, REF_TEXT, texts, nfe_step=NFE, seed=3)
    again, _ = fast.sample_mels(ref, REF_TEXT, texts, nfe_step=NFE, seed=3)
    for x, y, z in zip(a, b, again):
        assert x.shape == y.shape and _rel(x.numpy(), y.numpy()) < 1e-5
        assert torch.equal(x, z)  # a seed repeats bit for bit


def test_half_precision_fast_kernels_stay_as_close_to_upstream_as_the_reference(vocoder):
    """fp16 DiT as served on GPUs (here on the CPU): against upstream's own fp16 sampling at the same
    seed, the fused kernels' mel error is the reference path's, to within a tenth of a percent."""
    from engines.f5.accel.f5 import F5AccelOptions
    from engines.f5.accel.f5_block import StepKernels

    model = _tiny_cfm(True).half()
    ref = _reference()
    text = "hello there, how are you today? a longer text helps."
    torch.manual_seed(7)
    _wave, _sr, up_mel = next(utils_infer.infer_batch_process(
        (ref, 24000), REF_TEXT, [text], model, vocoder, progress=None, nfe_step=16, device="cpu"))
    errors = {}
    for name, kernels in (("fast", StepKernels()), ("reference", StepKernels.reference())):
        acc = F5Accelerator(model, vocoder, "cpu", dtype=torch.float16, options=F5AccelOptions(kernels=kernels))
        mels, _ = acc.sample_mels(ref, REF_TEXT, [text], nfe_step=16, seed=7)
        errors[name] = _rel(mels[0].numpy(), up_mel.T)
    assert errors["fast"] <= errors["reference"] * 1.001 + 1e-5, errors


def test_a_kernel_that_fails_on_the_device_goes_back_to_the_reference(monkeypatch):
    """check_kernels (run at load on CUDA) keeps what matches and turns off what raises."""
    from dataclasses import replace

    from engines.f5.accel import f5_block
    from engines.f5.accel.f5_block import StepKernels, check_kernels
    from engines.f5.accel.f5_step import CFGEulerStep

    step = CFGEulerStep(_tiny_cfm(True).transformer, torch.float32)
    kept, report = check_kernels(step, step.kernels)
    assert kept == step.kernels and all(isinstance(report[k], float) and report[k] < 1e-5
                                         for k in step.kernels.changes())

    def broken(x, cis):  # fault injection: the complex multiply is missing on this "device"
        raise RuntimeError("mul_cuda not implemented for 'ComplexHalf'")

    monkeypatch.setattr(f5_block, "rotate_in_place", broken)
    kept, report = check_kernels(step, step.kernels)
    assert kept.rope == "reference" and "ComplexHalf" in report["rope"]
    assert {k: v for k, v in kept.changes().items()} == {k: v for k, v in step.kernels.changes().items()
                                                          if k != "rope"}
    # FlashAttention asked for where it cannot run (here, the CPU): back to SDPA, the reason reported
    kept, report = check_kernels(step, replace(step.kernels, attention="flash"))
    assert kept.attention == "sdpa" and "NotImplementedError" in report["attention"], report
    assert StepKernels().for_device(torch.device("cpu"), torch.float32).gelu == "reference"
    assert StepKernels().for_device(torch.device("cuda"), torch.bfloat16).rope == "reference"
    # FlashAttention: CUDA in half precision only; elsewhere SDPA with the key mask
    assert StepKernels().for_device(torch.device("cuda"), torch.float16).attention == "flash"
    assert StepKernels().for_device(torch.device("cpu"), torch.float16).attention == "sdpa"
    assert StepKernels().for_device(torch.device("cuda"), torch.float32).attention == "sdpa"


def test_an_accelerator_in_another_dtype_copies_a_dit_upstream_has_already_sampled_with(vocoder):
    """Upstream's sampling leaves a thread-local text cache on the DiT; an accelerator in another
    dtype copies the DiT anyway, leaves the model's own in its dtype, and samples what the
    model's own dtype samples (to bf16's precision)."""
    model = _tiny_cfm(True)
    ref = _reference()
    text = "hello there, how are you today?"
    next(utils_infer.infer_batch_process((ref, 24000), REF_TEXT, [text], model, vocoder, progress=None,
                                         nfe_step=4, device="cpu"))
    assert "_cache_local" in model.transformer.__dict__  # what deepcopy alone cannot copy

    bf16 = F5Accelerator(model, vocoder, "cpu", dtype=torch.bfloat16)
    assert next(model.transformer.parameters()).dtype == torch.float32
    mels_bf16, _ = bf16.sample_mels(ref, REF_TEXT, [text], nfe_step=4, seed=5)
    mels_fp32, _ = F5Accelerator(model, vocoder, "cpu").sample_mels(ref, REF_TEXT, [text], nfe_step=4, seed=5)
    assert mels_bf16[0].shape == mels_fp32[0].shape
    assert _rel(mels_bf16[0].float().numpy(), mels_fp32[0].numpy()) < 0.05
