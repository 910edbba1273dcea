"""The web app's pieces without a server: labels, hints, status cards, error badges and blocks,
admin settings and checks, failure kinds in the history, and how events show progress."""

from __future__ import annotations

import html
import os
import re

import gradio as gr
import pytest

from engines import EngineManager, Settings, SynthesisRequest
from engines.languages import LANGUAGE_NAMES
from history import OutputHistory
from webui import AppConfig, build_app
from webui.tabs import choices
from webui.serving.admin import REFUSAL, AdminPolicy
from webui.serving.speech_service import SpeechService
from webui.tabs.badges import render_error_badge, render_error_block
from webui.serving.config import ConfigError
from webui.tabs.error_panel import UNKNOWN_FAILURE, BadInputError, ErrorPanel
from webui.tabs.speech import speak_outputs
from webui.tabs.status.tab import build_status_tab, render_card

OFFLINE = {"VOICE_STUDIO_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}
# The offline message a user saw cut off exactly before what to set.
OFFLINE_REASON = ("No engine could serve this request. F5-TTS: F5-TTS checkpoint missing "
                  "(hf://firstpixel/F5-TTS-pt-br/pt-br/model_last.safetensors): set F5TTS_CKPT | XTTS: XTTS-v2 "
                  "model missing (hf://coqui/XTTS-v2): set XTTS_MODEL")


def visible_text(fragment: str) -> str:
    """The text a reader sees (tags dropped, entities decoded); attributes such as a tooltip are not in it."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def unloaded_manager(env: dict[str, str] | None = None) -> EngineManager:
    return EngineManager(Settings.from_env({**OFFLINE, **(env or {})}))


def component(demo: gr.Blocks, elem_id: str):
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == elem_id)


# --- language dropdown ---------------------------------------------------------------------------
def test_language_labels_have_one_pair_of_brackets():
    labels = dict((code, label) for label, code in choices.language_choices(unloaded_manager()))
    assert labels["pt-BR"] == "Portuguese (Brazil, pt-BR)"
    assert labels["zh-CN"] == "Chinese (Mandarin, zh-CN)"
    assert labels["en"] == "English (en)"
    for code, label in labels.items():
        assert label.count("(") == label.count(")") == 1 and code in label, label
    assert set(labels) <= set(LANGUAGE_NAMES)


def test_language_hint_says_which_lists_are_declared_until_the_model_loads(tiny_env):
    manager = EngineManager(Settings.from_env({**os.environ, **tiny_env}))
    before = choices.languages_hint(manager)
    # Before loading, XTTS declares what its config.json lists (the tiny model: five languages).
    assert "XTTS: en, pt-BR, es, fr, de*" in before and choices.DECLARED_NOTE in before
    manager.load("xtts")
    after = choices.languages_hint(manager)
    # The tiny XTTS model serves five languages: the hint now shows the model's own list.
    assert "XTTS: en, pt-BR, es, fr, de" in after and "XTTS: en, pt-BR, es, fr, de*" not in after
    assert "F5-TTS: pt-BR, en*" in after and choices.DECLARED_NOTE in after
    assert [code for _, code in choices.language_choices(manager)] == ["pt-BR", "en", "es", "fr", "de"]
    manager.unload("xtts")


# --- Engine status cards ---------------------------------------------------------------------------
HEALTH = {"status": "unavailable", "device": "cpu", "sample_rate": 24000, "languages": ["pt-BR"],
          "model": "hf://firstpixel/F5-TTS-pt-br/pt-br/model_last.safetensors", "weights_present": False,
          "load_s": None, "gpu_memory_mb": None, "license": "CC-BY-NC-4.0",
          "error": "F5-TTS checkpoint missing: set F5TTS_CKPT <now>"}


def test_status_card_is_a_full_width_light_table():
    card = render_card("f5tts", HEALTH)
    table = re.search(r"<table[^>]*style='([^']*)'", card).group(1)
    assert "width:100%" in table and "border-collapse:collapse" in table
    rows = re.findall(r"<tr style='([^']*)'", card)
    assert len(rows) == 9 and all("border-bottom:1px solid rgba(" in row for row in rows)
    assert "#d1d5db" not in card  # no heavy frame drawn inside the panel
    text = visible_text(card)
    assert "F5-TTS" in text and "Unavailable" in text and "set F5TTS_CKPT <now>" in text
    assert "<now>" not in card  # escaped


def _layout_path(layout: dict, target: int, path: tuple = ()) -> tuple | None:
    if layout["id"] == target:
        return path + (target,)
    for child in layout.get("children", []):
        found = _layout_path(child, target, path + (layout["id"],))
        if found:
            return found
    return None


def test_load_and_unload_sit_inside_each_engine_card_and_unload_asks_first(tmp_path):
    demo = build_app(unloaded_manager(), AppConfig(admin_everyone=True), OutputHistory(tmp_path / "out"))
    layout = demo.get_config_file()["layout"]
    for name in ("f5tts", "xtts"):
        card = component(demo, f"status-card-{name}")
        for button_id in (f"status-load-{name}", f"status-unload-{name}"):
            path = _layout_path(layout, component(demo, button_id)._id)
            assert path is not None and card._id in path, button_id
        unload = component(demo, f"status-unload-{name}")
        (dependency,) = [fn for fn in demo.fns.values() if any(t[0] == unload._id for t in fn.targets)]
        assert dependency.js and "confirm(" in dependency.js and dependency.api_visibility == "private"


# --- admin actions ---------------------------------------------------------------------------
def test_without_an_admin_setting_there_is_no_load_or_unload(tmp_path):
    demo = build_app(unloaded_manager(), AppConfig(), OutputHistory(tmp_path / "out"))
    names = {fn.api_name for fn in demo.fns.values()}
    assert not names & {"load_engine", "unload_engine"}
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert not any(i and (i.startswith("status-load-") or i.startswith("status-unload-")) for i in ids)


def test_admin_settings_from_the_environment():
    config = AppConfig.from_env({"VOICE_STUDIO_AUTH": "ana:pw:with-colon\nbob:secret\n",
                                 "VOICE_STUDIO_ADMINS": " ana , "})
    assert config.auth == (("ana", "pw:with-colon"), ("bob", "secret"))
    assert config.admins == frozenset({"ana"}) and not config.admin_everyone
    assert AppConfig.from_env({"VOICE_STUDIO_ADMIN": "1"}).admin_everyone
    assert not AppConfig.from_env({}).admin_everyone and AppConfig.from_env({}).admins == frozenset()


@pytest.mark.parametrize("env, message", [
    ({"VOICE_STUDIO_ADMINS": "ana"}, "VOICE_STUDIO_ADMINS names users of VOICE_STUDIO_AUTH, which is not set"),
    ({"VOICE_STUDIO_AUTH": "ana:pw", "VOICE_STUDIO_ADMINS": "ana,eve"}, "names 'eve', not a user of"),
    ({"VOICE_STUDIO_AUTH": "ana:pw\nana:other"}, "names user 'ana' twice"),
    ({"VOICE_STUDIO_AUTH": "ana:pw\nbob"}, "one login per line"),
])
def test_bad_admin_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        AppConfig.from_env(env)


def test_the_admin_handlers_refuse_a_user_who_is_not_an_admin(tmp_path):
    manager = unloaded_manager()
    config = AppConfig(auth=(("ana", "pw1"), ("bob", "pw2")), admins=frozenset({"ana"}))
    demo = build_app(manager, config, OutputHistory(tmp_path / "out"))
    handlers = {fn.api_name: fn.fn for fn in demo.fns.values() if fn.api_name in ("load_engine", "unload_engine")}
    assert set(handlers) == {"load_engine", "unload_engine"}
    for handler in handlers.values():
        for user in ("bob", None):
            with pytest.raises(gr.Error) as refused:
                handler("xtts", gr.Request(username=user))
            assert refused.value.message == REFUSAL
    health = handlers["unload_engine"]("xtts", gr.Request(username="ana"))
    assert health["engines"]["xtts"]["status"] in ("not_loaded", "unavailable")


def test_admin_rows_show_only_for_admins():
    policy = AdminPolicy(users=frozenset({"ana"}))
    with gr.Blocks():
        status = build_status_tab(unloaded_manager(), policy)
    # one row per engine (Load, Unload), F5-TTS's model picker and speech recognition's Load
    assert len(status.admin_rows) == 4 and not any(row.visible for row in status.admin_rows)
    assert status.note.visible  # until the page knows who is looking: why the controls are missing
    *rows, note = status.admin_visibility(gr.Request(username="ana"))
    assert all(update.visible for update in rows) and not note.visible
    *rows, note = status.admin_visibility(gr.Request(username="bob"))
    assert not any(update.visible for update in rows) and note.visible
    assert "logged in as **bob**" in note.value and "`VOICE_STUDIO_ADMINS`" in note.value


def test_everyone_who_is_not_an_admin_reads_why_and_which_variable():
    with gr.Blocks():
        nobody = build_status_tab(unloaded_manager(), AdminPolicy())
    assert nobody.note.visible and nobody.admin_rows == []
    assert "`VOICE_STUDIO_ADMIN=1`" in nobody.note.value and "`VOICE_STUDIO_ADMINS`" in nobody.note.value
    with gr.Blocks():
        everyone = build_status_tab(unloaded_manager(), AdminPolicy(everyone=True))
    assert not everyone.note.visible and all(row.visible for row in everyone.admin_rows)


# --- errors: History badges, the block beside the output, input vs engine --------------------
def test_error_badge_shows_the_full_reason():
    fragment = render_error_badge(OFFLINE_REASON)
    assert len(OFFLINE_REASON) > 200 and OFFLINE_REASON.index("set F5TTS_CKPT") < 200 < len(OFFLINE_REASON)
    text = " ".join(visible_text(fragment).split())
    assert "set F5TTS_CKPT | XTTS: XTTS-v2 model missing (hf://coqui/XTTS-v2): set XTTS_MODEL" in text
    assert f'title="{html.escape(OFFLINE_REASON)}"' in fragment  # and as the badge's tooltip
    assert "<details" in fragment


def test_input_mistakes_and_engine_failures_look_apart():
    typo = render_error_badge("text is empty: type something to speak", "input")
    failure = render_error_badge("No engine could serve this request.", "engine")
    assert 'data-badge="input_error"' in typo and "Input mistake: text is empty" in visible_text(typo)
    assert 'data-badge="error"' in failure and "Engine failure: No engine" in visible_text(failure)
    assert "<details" not in typo  # nothing was cut
    old = render_error_badge("from a sidecar written before kinds were recorded")
    assert "Failed: from a sidecar" in visible_text(old)
    escaped = render_error_badge("<script>alert(1)</script>", "input")
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped


def test_error_block_carries_the_whole_message():
    block = render_error_block(OFFLINE_REASON, "engine")
    assert "role='alert'" in block and "data-error-kind='engine'" in block
    assert " ".join(OFFLINE_REASON.split()) in " ".join(visible_text(block).split())
    assert "Correct it" in visible_text(render_error_block("text is empty", "input"))


def test_failures_are_recorded_with_their_kind(tmp_path, tiny_env):
    history = OutputHistory(tmp_path / "outputs")
    typo = SynthesisRequest(text="   ", language="en", engine="xtts", voice_preset="female_generic")
    with pytest.raises(BadInputError, match="text is empty"):
        speak_outputs(SpeechService(unloaded_manager(), history), typo, None)
    missing = {**tiny_env, "F5TTS_CKPT": str(tmp_path / "missing.safetensors"), "XTTS_MODEL": str(tmp_path / "none")}
    down = EngineManager(Settings.from_env({**os.environ, **missing}))
    request = SynthesisRequest(text="Hello there.", language="en", voice_preset="female_generic")
    with pytest.raises(gr.Error) as raised:
        speak_outputs(SpeechService(down, history), request, None)
    assert not isinstance(raised.value, BadInputError) and "set F5TTS_CKPT" in raised.value.message
    engine_failure, input_mistake = history.list()
    assert input_mistake.metadata["error_kind"] == "input" and "text is empty" in input_mistake.error
    assert engine_failure.metadata["error_kind"] == "engine" and "set XTTS_MODEL" in engine_failure.error


def test_error_panel_remembers_per_session_and_stays_bounded():
    panel = ErrorPanel(max_sessions=2)
    for session in ("a", "b", "c"):
        with pytest.raises(BadInputError):
            with panel.watch(gr.Request(session_hash=session)):
                raise BadInputError(f"seed 'x{session}' is not a number")
    block, audio, badges, metadata = panel.show(gr.Request(session_hash="c"))
    assert "seed 'xc' is not a number" in visible_text(block) and "data-error-kind='input'" in block
    assert (audio, badges, metadata) == (None, "", None)  # the earlier result is cleared
    assert UNKNOWN_FAILURE in visible_text(panel.show(gr.Request(session_hash="a"))[0])  # evicted
    assert panel.clear(gr.Request(session_hash="b")) == "" and panel.take(gr.Request(session_hash="b")) is None


# --- one progress bar ---------------------------------------------------------------------------
@pytest.mark.parametrize("tab", ["dub", "clone"])
def test_progress_shows_on_the_audio_only(tmp_path, tab):
    demo = build_app(unloaded_manager(), AppConfig(), OutputHistory(tmp_path / "out"))
    audio = component(demo, f"{tab}-audio")
    metadata = component(demo, f"{tab}-metadata")
    secondary = {component(demo, f"{tab}-{part}")._id for part in ("badges", "error")} | {metadata._id}
    (synthesis,) = [fn for fn in demo.fns.values() if fn.api_name == tab]
    assert [block._id for block in synthesis.show_progress_on] == [audio._id]
    for fn in demo.fns.values():
        # What a new result sets off (the History list, the language choices) runs without a spinner.
        if any(block_id == metadata._id for block_id, _ in fn.targets):
            assert fn.show_progress == "hidden", fn.name
        if fn.show_progress == "hidden":
            continue
        shown_on = {block._id for block in (fn.show_progress_on or fn.outputs)}
        assert not shown_on & secondary, (fn.name, fn.api_name)
