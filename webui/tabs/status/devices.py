"""The Engine status tab's view of where the engines run: each device of the host
(``VOICE_STUDIO_DEVICES``) and, on Ray Serve, each engine's replicas.

Built from the health JSON alone (``devices`` from the device router, ``replicas`` from
the Ray front), so it shows nothing on a single device and needs no call of its own.
"""

from __future__ import annotations

import html
from typing import Any

# As the engine cards' tables: hairlines between rows, no grid.
_TABLE = "width:100%;border-collapse:collapse;border:none;margin:4px 0 12px;font-size:0.9em"
_CELL = ("border:none;border-bottom:1px solid rgba(127,127,127,0.18);padding:5px 12px 5px 0;text-align:left;"
         "background:transparent")
_HEAD = _CELL + ";font-weight:600;opacity:0.75"


def render_devices(health: dict[str, Any] | None) -> str:
    """HTML tables of the devices and the replicas in ``health``; empty when it has neither."""
    health = health or {}
    parts = []
    if health.get("devices"):
        parts.append(_devices_table(health["devices"]))
    if health.get("replicas"):
        parts.append(_replicas_table(health["replicas"]))
    return "".join(parts)


def _table(caption: str, kind: str, head: list[str], rows: list[list[Any]], keys: list[str]) -> str:
    header = "".join(f"<th style='{_HEAD}'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        f"<tr data-{kind}='{html.escape(key)}'>" + "".join(
            f"<td style='{_CELL}'>{html.escape('—' if cell is None else str(cell))}</td>" for cell in row) + "</tr>"
        for key, row in zip(keys, rows))
    return (f"<div class='vs-{kind}s'><h3 style='margin:8px 0 4px'>{html.escape(caption)}</h3>"
            f"<table style='{_TABLE}'><tr>{header}</tr>{body}</table></div>")


def _devices_table(devices: list[dict[str, Any]]) -> str:
    rows, keys = [], []
    for device in devices:
        worker = device.get("worker") or {}
        engines = ", ".join(f"{name}: {status}" for name, status in (device.get("engines") or {}).items())
        state = "stopped: " + worker["poisoned"] if worker.get("poisoned") else "working"
        rows.append([device.get("device"), engines, device.get("in_flight"), worker.get("queued"),
                     worker.get("jobs_run"), state])
        keys.append(str(device.get("device")))
    return _table("Devices", "device", ["Device", "Engines", "Requests in flight", "Jobs queued", "Jobs run",
                                         "State"], rows, keys)


def _replicas_table(replicas: dict[str, dict[str, Any]]) -> str:
    rows, keys = [], []
    for engine, counts in replicas.items():
        serve = ", ".join(f"{state} {n}" for state, n in (counts.get("serve") or {}).items())
        rows.append([engine, counts.get("up"), counts.get("loading"), counts.get("failed"), serve or None,
                     counts.get("error")])
        keys.append(engine)
    return _table("Ray Serve replicas", "replica", ["Engine", "Up", "Loading", "Failed", "Serve says", "Last error"],
                  rows, keys)
