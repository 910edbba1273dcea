"""Markdown tables from ``bench.f5.speed``'s JSON, for bench/RESULTS.md.

    python -m bench.f5.report f5_speed.json > tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.f5.profile import CLASSES


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def lengths(r: dict) -> list[str]:
    rows = [[x["words"], x["audio_s"], x["chunks"], x["upstream_first_s"], x["old_first_s"], x["new_first_s"],
             f"**{x['speedup_new_first']}×**", f"{x['speedup_old_first']}×", x["new_repeat_s"],
             f"{x['speedup_new_repeat']}×", "yes" if x["new_length_equals_upstream"] else "**no**"]
            for x in r.get("lengths", {}).get("rows", [])]
    return _table(["words", "audio s", "chunks", "upstream 1st s", "old 1st s", "new 1st s", "new vs upstream, 1st",
                   "old vs upstream, 1st", "new repeat s", "new vs upstream, repeat", "length = upstream's"], rows)


def concurrent(r: dict) -> list[str]:
    c = r.get("concurrent", {})
    rows = [[name, c[name]["sequential_s"], c[name]["concurrent_s"], f"{c[name]['ratio']}×",
             c[name]["audio_per_s_concurrent"], c[name]["useful_tflops_sequential"],
             c[name]["useful_tflops_concurrent"]] for name in ("old", "new") if name in c]
    if "upstream" in c:
        rows.append(["upstream", c["upstream"]["sequential_s"], "", "", "", c["upstream"]["useful_tflops_sequential"],
                     ""])
    return _table(["path", "one after another s", "all at once s", "ratio", "audio s/s at once",
                   "useful TFLOP/s, one by one", "useful TFLOP/s, at once"], rows)


def switches(r: dict) -> list[str]:
    rows = r.get("switches", {}).get("rows", [])
    shapes = sorted({k for row in rows for k in row if k.endswith("_ms")})
    body = [[row["variant"]] + [row.get(s, row.get("error", "")[:60]) for s in shapes] for row in rows]
    return _table(["kernels"] + [s.removesuffix("_ms") + " ms/step" for s in shapes], body)


def profile(r: dict) -> list[str]:
    body = []
    for row in r.get("profile", {}).get("rows", []):
        if "error" in row:
            body.append([row["path"], f"{row['frames']}×{row['rows']}", "failed: " + row["error"][:60]]
                        + [""] * (len(CLASSES) + 2))
            continue
        p = row["profile"]
        body.append([row["path"], f"{row['frames']}×{row['rows']}", row["step_ms"], row["useful_tflops"], p["kernels"]]
                    + [f"{round(100 * p['shares'][c])}%" for c in CLASSES])
    return _table(["path", "frames × rows", "step ms", "useful TFLOP/s", "kernels"] + list(CLASSES), body)


def correctness(r: dict) -> list[str]:
    c = r.get("correctness", {})
    rows = [[name, f"{c[name]['mel_rel_err_vs_upstream']:.2e}", f"{c[name]['mel_rel_err_batched_vs_alone']:.2e}"]
            for name in ("old", "new", "new_bf16") if name in c]
    lines = _table(["path", "mel rel. error vs upstream", "batched vs alone"], rows)
    lines.append(f"\nSeed repeats bit for bit (new): {c.get('new_seed_repeats_bit_for_bit')}. Kernel switches "
                 f"kept on the device: {r.get('kernels', {}).get('new')}; their check: {r.get('kernels', {}).get('check')}")
    return lines


def main(argv=None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    r = json.loads(Path(args[0]).read_text())
    out = [f"{r.get('device')} | torch {r.get('torch')} | {r.get('total_s')} s in all", ""]
    for title, part in (("Correctness", correctness), ("New text lengths", lengths), ("8 requests", concurrent),
                        ("Kernel switches (one step)", switches), ("One step per op class", profile)):
        out += [f"### {title}", ""] + part(r) + [""]
    captures = r.get("captures", {})
    out.append(f"Capture checks ok: {captures.get('ok')} "
               f"(compile then capture: {captures.get('compile_then_capture', {}).get('ok')}, "
               f"failed captures: {captures.get('failed_captures', {}).get('ok')}). "
               f"Errors: {list(r.get('errors', {}))}. Skipped: {r.get('skipped', {})}.")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
