"""The Engine status tab's device and replica tables, from the health JSON alone."""

from __future__ import annotations

from webui.tabs.status.devices import render_devices


def test_one_device_shows_nothing_new():
    assert render_devices({"status": "healthy", "engines": {}, "worker": {"device": "cpu"}}) == ""
    assert render_devices(None) == ""


def test_a_row_per_device_with_its_engines_load_and_state():
    html = render_devices({"devices": [
        {"device": "cuda:0", "in_flight": 3, "engines": {"f5tts": "available", "xtts": "loading"},
         "worker": {"queued": 2, "jobs_run": 40, "poisoned": None}},
        {"device": "cuda:1", "in_flight": 0, "engines": {"xtts": "unavailable"},
         "worker": {"queued": 0, "jobs_run": 7, "poisoned": "the cuda device stopped <working>"}}]})
    assert "<tr data-device='cuda:0'>" in html and "f5tts: available, xtts: loading" in html
    assert "<td style='" in html and ">3</td>" in html and ">40</td>" in html and ">working</td>" in html
    assert "stopped: the cuda device stopped &lt;working&gt;" in html  # escaped, never markup


def test_a_row_per_engine_of_ray_serve_replicas():
    html = render_devices({"replicas": {"f5tts": {"up": 2, "loading": 1, "failed": 0, "error": None,
                                                  "serve": {"RUNNING": 2, "STARTING": 1}},
                                        "xtts": {"up": 0, "loading": 0, "failed": 2, "error": "boom"}}})
    assert "Ray Serve replicas" in html and "<tr data-replica='xtts'>" in html and ">boom</td>" in html
    assert ">RUNNING 2, STARTING 1</td>" in html
