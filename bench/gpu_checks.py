"""Quick GPU checks of the paths only a GPU runs, on tiny models (a minute, two with the compile):

- captures (``bench/f5/capture_checks.py``, first, in a fresh process): the compile mode's
  warm-up under a busy worker captures only the compiled step and then upstream's eager
  sampling still runs; three real capture failures each leave the process generating;
- F5: the compiled step captured per bucket gives the eager step's mels (same seed), for a
  single request and for several requests sharing one forward; a seed gives the same mels
  alone and batched;
- XTTS: the captured sampling and greedy graphs give the eager decode's tokens; one graph
  serves every profile's sampling settings; a seed repeats.

    python -m bench.gpu_checks --out gpu_checks.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-12))


def f5_checks(work: Path, modes=("graphs",)) -> dict:
    from engines.f5.accel.f5 import F5Accelerator
    from engines.f5.accel.f5_warmup import F5Warmup
    from devtools.tiny_models import build_f5_model, write_vocab
    from bench.kit.inputs import reference_audio

    model = build_f5_model(write_vocab(work / "vocab.txt")).to("cuda").half().eval()
    from vocos import Vocos
    from devtools.tiny_models import VOCOS_CONFIG

    (work / "vocos.yaml").write_text(VOCOS_CONFIG)
    vocoder = Vocos.from_hparams(str(work / "vocos.yaml")).to("cuda").eval()
    ref = reference_audio(3.0)
    texts = [["hello there, a short one."], ["a second request, somewhat longer than the first one is."],
             ["third.", "and its second chunk, here."]]
    eager = F5Accelerator(model, vocoder, "cuda")  # no graphs captured: every shape eager
    want = [eager.sample([eager.prepare(ref, "a reference. ", t, seed=i)], nfe_step=8)[0] for i, t in enumerate(texts)]
    out = {}
    for mode in modes:
        acc = F5Accelerator(model, vocoder, "cuda", compile=mode == "compile")
        start = time.perf_counter()
        shapes = sorted({acc.bucket(k, n) for k in (1, 2, 3, 4) for n in (256, 384, 512)})
        F5Warmup(acc, None, mode, None, {}).run_inline(shapes)
        warm_s = time.perf_counter() - start
        alone = [acc.sample([acc.prepare(ref, "a reference. ", t, seed=i)], nfe_step=8)[0] for i, t in enumerate(texts)]
        together = acc.sample([acc.prepare(ref, "a reference. ", t, seed=i) for i, t in enumerate(texts)], nfe_step=8)
        errs_alone = [rel(a, w) for ma, mw in zip(alone, want) for a, w in zip(ma, mw)]
        errs_batch = [rel(a, w) for ma, mw in zip(together, alone) for a, w in zip(ma, mw)]
        out[mode] = {"warmup_s": round(warm_s, 2), "graphs": len(acc.graphs),
                     "max_rel_err_vs_eager": max(errs_alone), "max_rel_err_batched_vs_alone": max(errs_batch),
                     "ok": max(errs_alone) < 2e-2 and max(errs_batch) < 2e-2}
    out["ok"] = all(result["ok"] for result in out.values())
    return out


def xtts_checks() -> dict:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    from engines.xtts.accel.xtts import XttsAccelerator
    from engines.xtts.accel.xtts_sampling import SamplingParams

    from devtools.tiny_models import build_xtts_dir

    directory = build_xtts_dir(Path(tempfile.mkdtemp(prefix="gpu-checks-xtts-")))
    cfg = XttsConfig()
    cfg.load_json(str(directory / "config.json"))
    model = Xtts(cfg)
    model.load_checkpoint(cfg, checkpoint_dir=str(directory), eval=True)
    model.to("cuda")
    model.eval()  # coqui's eval() returns None
    cond = torch.randn(1, 32, model.gpt.model_dim, device="cuda") * 0.5
    tokens = XttsAccelerator(model, "cuda").text_tokens("hello world, this is a test.", "en")
    eager = XttsAccelerator(model, "cuda")
    eager.options = type(eager.options)(use_graphs=False)
    graphed = XttsAccelerator(model, "cuda")
    graphed.capture_graphs()
    out = {"graphs": len(graphed._graphs)}
    for name, params in {"greedy": SamplingParams(greedy=True),
                         "xtts_fast": SamplingParams(0.65, 30, 0.80, 5.0),
                         "xtts_expressive": SamplingParams(0.90, 80, 0.95, 4.0)}.items():
        a = eager.decode(tokens, cond, params, max_new_tokens=40, seed=7).codes.tolist()
        b = graphed.decode(tokens, cond, params, max_new_tokens=40, seed=7).codes.tolist()
        c = graphed.decode(tokens, cond, params, max_new_tokens=40, seed=7).codes.tolist()
        out[name] = {"graph_equals_eager": a == b, "seed_repeats": b == c, "tokens": len(b)}
    out["graphs_after"] = len(graphed._graphs)
    out["ok"] = out["graphs_after"] == 2 and all(v["graph_equals_eager"] and v["seed_repeats"]
                                                 for k, v in out.items() if isinstance(v, dict))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu_checks.json")
    ap.add_argument("--compile", action="store_true", help="also check the compiled F5 step (about 100 s)")
    ap.add_argument("--only", choices=("captures", "f5", "xtts"), action="append",
                    help="run only these checks (default: all)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gpu-checks-"))
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    modes = ("graphs", "compile") if args.compile else ("graphs",)

    def captures() -> dict:
        from bench.f5.capture_checks import run

        return run(work / "captures")

    checks = {"captures": captures, "f5": lambda: f5_checks(work, modes), "xtts": xtts_checks}
    for name in args.only or list(checks):  # captures first: it needs to be the process's first capture
        try:
            report[name] = checks[name]()
        except Exception:  # reported, and the other checks still run
            import traceback

            report[name] = {"ok": False, "error": traceback.format_exc()[-3000:]}
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=1))
    return 0 if all(report[k].get("ok") for k in checks if k in report) else 1


if __name__ == "__main__":
    sys.exit(main())
