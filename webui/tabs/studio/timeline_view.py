"""The timeline under the video: a ``gr.HTML`` whose value is ``dubbing.editor.timeline.timeline_data``.

The page draws it with wavesurfer.js (its regions and timeline plugins), loaded by
``webui/static/studio/timeline.js`` from ``/voice-studio-static/wavesurfer/``: the pinned,
fetched, git-ignored folder ``vendor.py`` fills (``mount_timeline_files`` serves it,
nothing comes from a CDN). Without those files the page keeps the table and says how to
get the timeline. What the user does on the timeline comes back as events: ``click``
(a clip chosen) and ``edit`` (a slot dragged, a split, a merge), each a table edit
through the Studio service.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import gradio as gr

from dubbing import Studio
from dubbing.project import Project
from dubbing.editor.timeline import timeline_data

from ...serving.served_files import cache_copy
from . import vendor

logger = logging.getLogger("voice_studio.webui.studio")

STATIC = Path(__file__).resolve().parents[2] / "static" / "studio"
LIBRARY_ROUTE = "/voice-studio-static/wavesurfer"
TEMPLATE = """
<div class="vs-tl" data-state="empty">
  <div class="vs-tl-bar">
    <strong>Timeline</strong>
    <button type="button" class="vs-tl-play" title="Play or pause from the playhead">Play</button>
    <button type="button" class="vs-tl-zoom-out" title="Zoom out">−</button>
    <button type="button" class="vs-tl-zoom-in" title="Zoom in">+</button>
    <button type="button" class="vs-tl-fit" title="The whole project">Fit</button>
    <button type="button" class="vs-tl-split" title="Split the selected line at the playhead">Split at playhead</button>
    <button type="button" class="vs-tl-merge" title="Merge the selected line with the next line of its speaker">Merge with next</button>
    <span class="vs-tl-time">0:00.0</span>
    <span class="vs-tl-legend"><i class="done"></i>done <i class="stale"></i>changed <i class="pending"></i>not rendered
      <i class="failed"></i>failed <i class="overrun"></i>overruns</span>
  </div>
  <div class="vs-tl-status"></div>
  <div class="vs-tl-body"><div class="vs-tl-names"></div><div class="vs-tl-wave"></div></div>
</div>
"""


@functools.lru_cache(maxsize=1)
def _asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def missing_hint() -> str:
    return (f"The timeline needs wavesurfer.js {vendor.VERSION}, which is not installed here: {vendor.HOW_TO_GET}, "
            "then reload the page. The line table works without it.")


def timeline_component() -> gr.HTML:
    """The timeline's element; its script loads the library and draws each new value."""
    return gr.HTML(value=None, html_template=TEMPLATE, js_on_load=_asset("timeline.js"),
                   head=f"<style>{_asset('studio.css')}</style>", elem_id="studio-timeline",
                   library=LIBRARY_ROUTE.lstrip("/"), hint=missing_hint())


def timeline_value(studio: Studio, project: Project, track: str | None,
                   currency: dict[int, bool] | None = None) -> dict[str, Any]:
    """What the page draws for ``project`` (``track``: the mixed track on disk, which clips play from)."""
    currency = studio.currency(project) if currency is None else currency
    data = timeline_data(project, studio.store, currency)
    data["track_url"] = f"gradio_api/file={cache_copy(track)}" if track else None
    data["available"] = vendor.installed(vendor.timeline_dir())
    data["hint"] = missing_hint()
    return data


def mount_timeline_files(app) -> None:
    """Serve the fetched library at ``LIBRARY_ROUTE`` (fetching it in the background when it is missing)."""
    from fastapi.staticfiles import StaticFiles

    folder = vendor.timeline_dir()
    app.mount(LIBRARY_ROUTE, StaticFiles(directory=folder, check_dir=False), name="voice-studio-wavesurfer")
    vendor.fetch_in_background()
