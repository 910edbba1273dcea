"""``python -m bench.f5.speed --quick`` and ``bench.f5.profile --quick``: the GPU benchmarks' plumbing, on tiny
CPU models (figures from these runs mean nothing; the JSON they write is what the GPU run fills in)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("f5_tts.infer.utils_infer")


def test_speed_quick_run_writes_every_section(tmp_path, monkeypatch, capsys):
    from bench.f5 import speed as f5_speed

    monkeypatch.setenv("BENCH_WORKDIR", str(tmp_path / "work"))
    out = tmp_path / "speed.json"
    assert f5_speed.main(["--quick", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["errors"] == {} and report["skipped"] == {"captures": "needs CUDA"}
    assert {"correctness", "lengths", "concurrent", "switches", "profile"} <= set(report)
    assert all(row["new_length_equals_upstream"] and row["old_length_equals_upstream"]
               for row in report["lengths"]["rows"])
    assert report["correctness"]["new_seed_repeats_bit_for_bit"] is True
    assert report["kernels"]["new_shapes"] > report["kernels"]["old_shapes"]
    concurrent = report["concurrent"]
    assert concurrent["new"]["audio_s"] == concurrent["old"]["audio_s"] > 0
    switches = {row["variant"]: row for row in report["switches"]["rows"]}
    assert "reference" in switches and "all (default)" in switches and not any("error" in r for r in switches.values())
    paths = {row["path"] for row in report["profile"]["rows"]}
    assert paths == {"ours_reference_kernels", "ours", "upstream"}
    assert not any("error" in row for row in report["profile"]["rows"])

    from bench.f5 import report as f5_report  # the tables for bench/RESULTS.md, from that JSON

    assert f5_report.main([str(out)]) == 0
    tables = capsys.readouterr().out
    for title in ("### New text lengths", "### 8 requests", "### Kernel switches", "### One step per op class"):
        assert title in tables
    assert tables.count("| 5 |") == 1 and "| all (default) |" in tables


def test_profile_quick_run_classifies_every_op(tmp_path, monkeypatch):
    from bench.f5 import profile as f5_profile

    monkeypatch.setenv("BENCH_WORKDIR", str(tmp_path / "work"))
    out = tmp_path / "profile.json"
    assert f5_profile.main(["--quick", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 3 * len(f5_profile.QUICK_SHAPES)
    for row in rows:
        profile = row["profile"]
        assert set(profile["classes_ms"]) == set(f5_profile.CLASSES) and profile["total_ms"] > 0
        assert abs(sum(profile["shares"].values()) - 1) < 0.02 and profile["top_ops"]
        assert row["step_ms"] > 0


def test_useful_flops_counts_the_issue_formula():
    from bench.f5.profile import useful_flops

    # F5TTS_Base, one request of 1,000 frames: 2 rows x 22 layers x (16 n d^2 + 4 n^2 d)
    n, d = 1000, 1024
    assert useful_flops(n, 1) == 2 * 22 * (16 * n * d * d + 4 * n * n * d)
    assert useful_flops(n, 8) == 8 * useful_flops(n, 1)
