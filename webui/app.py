"""``build_app(manager, config)`` returns the Gradio Blocks: every tab, wired together.

The tabs are built in ``tabs`` (one module per tab); ``serving`` holds what they share with
the ``/v1`` routes (the ``SpeechService``: admission, History, wording). Handlers are plain
functions that call the service or the ``EngineManager``; no model logic lives here.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from engines import EngineManager
from history import OutputHistory

from .serving.admin import AdminPolicy
from .serving.config import AppConfig
from .serving.speech_service import SpeechService
from .tabs.cloning import build_cloning_tab
from .tabs.dubbing import build_dubbing_tab
from .tabs.controls import ONE_PLAYER_JS
from .tabs.history.reuse import ReuseTargets
from .tabs.history import build_history_tab
from .tabs.status import build_status_tab
from .tabs.studio import build_studio_tab
from .tabs.voices_tab import VoiceHandlers, build_voices_tab, library_of, save_from_cloning

TITLE = "Voice Studio"
INTRO = ("Dub text in a preset or saved voice or clone a voice from a short clip, with **F5-TTS** or **XTTS-v2**. "
         "The badges beside every result say which engine and settings really produced it.")


def build_app(manager: EngineManager, config: AppConfig | None = None,
              history: OutputHistory | None = None, service: SpeechService | None = None) -> gr.Blocks:
    """The Blocks app; loads no model. With ``history``, every result and failure is kept there.

    ``service`` is what the page shares with ``/v1``: the admission (synthesis slots and waiting
    line) and the History.
    """
    config = config or AppConfig()
    if service is None:
        from .serving.limits import Admission

        service = SpeechService(manager, history, Admission(manager.concurrency, config.queue_size))
    with gr.Blocks(title=TITLE, analytics_enabled=config.analytics_enabled,
                   delete_cache=(config.cache_sweep_s, config.cache_ttl_s)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        library = library_of(manager)
        handlers = VoiceHandlers(manager, library) if library is not None else None
        # The voice list every tab follows (Dubbing's dropdown, the Voices tab), refreshed after each change.
        voices = gr.JSON(label="Voices", visible=False, elem_id="voices-json") if handlers is not None else None
        save_voice = partial(save_from_cloning, handlers, voices) if handlers is not None else None
        with gr.Tabs() as tabs:
            views = [build_dubbing_tab(service, voices), build_cloning_tab(service, save_voice)]
            if handlers is not None:
                build_voices_tab(manager, voices, handlers)
            build_studio_tab(manager, history, history.root if history is not None else None)
            status = build_status_tab(manager, AdminPolicy.from_config(config))
            if history is not None:  # "Use again" fills Dubbing's or Cloning's form from an entry
                reuse = ReuseTargets(tabs, {"dub": views[0].form, "clone": views[1].form},
                                     {"dub": views[0].knobs, "clone": views[1].knobs})
                listing = build_history_tab(history, reuse)
                for view in views:  # a new result shows in the History tab at once
                    view.metadata.change(listing.refresh, inputs=listing.inputs, outputs=listing.entries,
                                         api_visibility="private", concurrency_limit=None, show_progress="hidden")
        demo.load(None, js=ONE_PLAYER_JS)  # one player per result: live while made, then the whole clip
        demo.load(status.refresh, outputs=status.health_json, api_visibility="private", concurrency_limit=None)
        if status.admin_rows and not status.admin.everyone:  # admin controls for admins, why not for the others
            demo.load(status.admin_visibility, outputs=status.per_user, api_visibility="private",
                      concurrency_limit=None, show_progress="hidden")
        if handlers is not None:
            demo.load(handlers.refresh_list, outputs=voices, api_visibility="private", concurrency_limit=None)
    # Gradio runs at most one synthesis event per engine (the shared "synthesis" concurrency
    # group) and keeps at most ``queue_size`` waiting, refusing more with "Queue is full";
    # each event then takes its slot from the admission it shares with /v1.
    demo.queue(max_size=config.queue_size, default_concurrency_limit=1)
    return demo

