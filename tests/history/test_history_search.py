"""Finding History entries (``history.search``) and putting one back into a form (``webui.tabs.history.reuse``):
pure functions on real entries written by ``OutputHistory``; no model, no page."""

from __future__ import annotations

import dataclasses

import gradio as gr
import numpy as np
import pytest

from engines import SynthesisRequest, SynthesisResult
from history import OutputHistory
from history.search import HistoryQuery, QueryError, search
from webui.tabs.history.reuse import ReuseTargets, fill, filled_message, form_values, saved_knobs
from webui.tabs.knobs import KNOB_NAMES, knob_panel, shown_values
from webui.tabs.history.tab import position_text, search_history


def saved(history: OutputHistory, text: str, engine: str = "f5tts", clone: bool = False, seed: int | None = None,
          used: str | None = None, speed: float | None = None, profile: str | None = None, knobs: dict | None = None):
    request = SynthesisRequest(text=text, language="pt-BR", engine=engine, voice_preset=None if clone else "maria",
                               reference_audio=__file__ if clone else None, reference_text="ref" if clone else None,
                               seed=seed, speed=speed, quality_profile=profile, knobs=knobs)
    audio = np.zeros(2400, dtype=np.float32)
    metadata = {"tts_engine_requested": engine, "tts_engine_used": used or engine, "mode": "clone" if clone else "dub",
                "voice": "cloned" if clone else "maria", "seed": 4242, "quality_profile_used": f"{engine}_balanced"}
    return history.save_result(request, SynthesisResult(audio, 24000, metadata))


@pytest.fixture
def history(tmp_path) -> OutputHistory:
    history = OutputHistory(tmp_path / "outputs")
    saved(history, "Olá, tudo bem com você?")                                       # dub, F5
    saved(history, "Bom dia, Maria!", engine="xtts")                                 # dub, XTTS
    saved(history, "Hello there, cloned.", clone=True)                               # clone, F5
    saved(history, "Fell back to XTTS.", engine="f5tts", used="xtts")                # dub, ran on XTTS
    history.save_failure(SynthesisRequest(text="speed zero", language="pt-BR", engine="xtts", voice_preset="maria",
                                          speed=0.0), "speed 0.0 is out of range; use 0.5 to 2.0", kind="input")
    return history


@pytest.mark.parametrize("query, expected", [
    (HistoryQuery(), ["speed zero", "Fell back to XTTS.", "Hello there, cloned.", "Bom dia, Maria!",
                      "Olá, tudo bem com você?"]),
    (HistoryQuery(text="maria"), ["speed zero", "Fell back to XTTS.", "Bom dia, Maria!", "Olá, tudo bem com você?"]),
    (HistoryQuery(text="OLÁ  você"), ["Olá, tudo bem com você?"]),                 # every word, any case
    (HistoryQuery(text="out of range"), ["speed zero"]),                            # the error's words too
    (HistoryQuery(engine="xtts"), ["speed zero", "Fell back to XTTS.", "Bom dia, Maria!"]),  # the engine that ran
    (HistoryQuery(mode="clone"), ["Hello there, cloned."]),
    (HistoryQuery(status="error"), ["speed zero"]),
    (HistoryQuery(text="bom", engine="f5tts"), []),
])
def test_a_query_narrows_the_list_and_keeps_its_order(history, query, expected):
    entries, total = search(history.list(), query)
    assert [entry.text for entry in entries] == expected and total == len(expected)


def test_pages_of_a_search_count_only_what_matches(history):
    page = search_history(history, "", "xtts", "", "", 2, 0)
    assert [e["text"] for e in page["entries"]] == ["speed zero", "Fell back to XTTS."] and page["total"] == 3
    second = search_history(history, "", "xtts", "", "", 2, 2)
    assert [e["text"] for e in second["entries"]] == ["Bom dia, Maria!"]
    assert position_text(second) == "Entries 3–3 of 3 that match, newest first."
    assert position_text(search_history(history, "nothing like this")) == ""
    assert position_text(search_history(history)) == "Entries 1–5 of 5, newest first."


@pytest.mark.parametrize("field, value, words", [
    ("engine", "bark", "engine 'bark' is unknown; use one of: f5tts, xtts"),
    ("mode", "karaoke", "mode 'karaoke' is unknown; use one of: dub, clone, studio"),
    ("text", "x" * 201, "text is 201 characters long; at most 200"),
    ("text", 5, "text must be text, got int"),
])
def test_a_bad_query_is_refused_by_name(field, value, words):
    with pytest.raises(QueryError, match=words):
        HistoryQuery.from_form(**{field: value}, engines=("f5tts", "xtts"))


def test_a_bad_search_from_the_api_is_a_clear_error(history):
    with pytest.raises(gr.Error, match="status 'lost' is unknown"):
        search_history(history, "", "", "", "lost")
    with pytest.raises(gr.Error, match="limit 0 is out of range"):
        search_history(history, limit=0)


def test_use_again_fills_the_entrys_form_and_leaves_the_other(history):
    with gr.Blocks():
        tabs = gr.Tabs()
        dub = {name: gr.Textbox() for name in ("text", "language", "voice_preset", "engine", "quality_profile",
                                               "speed", "seed", "allow_fallback", "text_normalization")}
        clone = {name: gr.Textbox() for name in ("reference_audio", "reference_text", "text", "engine", "seed")}
    targets = ReuseTargets(tabs, {"dub": dub, "clone": clone})
    entry = saved(history, "Outra vez, por favor.", engine="xtts", speed=1.25, profile="xtts_fast")
    updates, engines = fill(targets, entry), fill(targets, entry, last=True)
    assert len(updates) == len(targets.outputs()) and len(engines) == len(targets.outputs(last=True)) == 2
    assert updates[0].selected == "dubbing"
    names = [f"{mode}:{n}" for mode in ("clone", "dub") for n in targets.fields(mode)]
    by_name = dict(zip(names, updates[1:]))
    assert "dub:engine" not in by_name  # set afterwards, once the profile is in place
    assert isinstance(engines[0], type(gr.skip()))  # the clone form's engine: untouched
    assert engines[1] == "xtts"
    assert by_name["dub:text"] == "Outra vez, por favor." and by_name["dub:voice_preset"] == "maria"
    assert (by_name["dub:speed"], by_name["dub:seed"]) == ("1.25", "4242")
    profile = by_name["dub:quality_profile"]
    assert profile.value == "xtts_fast" and ("xtts_fast", "xtts_fast") in profile.choices
    assert all(isinstance(by_name[f"clone:{n}"], type(gr.skip())) for n in targets.fields("clone"))
    assert "seed 4242 included" in filled_message(entry)

    cloned = saved(history, "De novo.", clone=True)
    values = form_values(cloned)
    assert "reference_audio" not in values and values["reference_text"] == "ref" and values["speed"] == ""
    updates = fill(targets, cloned)
    assert updates[0].selected == "cloning"
    assert isinstance(updates[1], type(gr.skip()))  # the clip is not in the history: left as it is
    assert "upload test_history_search.py again" in filled_message(cloned)


def test_a_failure_is_used_again_with_the_seed_it_asked_for(history):
    failure = next(entry for entry in history.list() if not entry.ok)
    values = form_values(failure)
    assert (values["text"], values["speed"], values["seed"], values["engine"]) == ("speed zero", "0", "", "xtts")


def knob_form(prefix: str):
    """A real knob panel (``knobs.knob_panel``) under an Advanced accordion, with its engine and profile."""
    with gr.Accordion("Advanced"):
        speed = gr.Textbox()
    engine, profile = gr.Dropdown(["f5tts", "xtts"], value="f5tts"), gr.Dropdown(allow_custom_value=True)
    return {"text": gr.Textbox(), "engine": engine, "quality_profile": profile}, knob_panel(prefix, speed, engine,
                                                                                           profile)


def shown_knobs(updates: list, targets: ReuseTargets, mode: str) -> tuple[dict, dict]:
    """``mode``'s pending knobs and sliders in the first step's updates (where ``outputs`` puts them)."""
    start = targets.outputs().index(targets.knobs[mode].pending)
    pending, *sliders = updates[start:start + 1 + len(KNOB_NAMES)]
    return pending, dict(zip(KNOB_NAMES, sliders))


def test_use_again_restores_the_knobs_the_entry_ran_with(history):
    with gr.Blocks() as demo:
        tabs = gr.Tabs()
        dub, dub_knobs = knob_form("dub")
        clone, clone_knobs = knob_form("clone")
    targets = ReuseTargets(tabs, {"dub": dub, "clone": clone}, {"dub": dub_knobs, "clone": clone_knobs})
    fast = dict(zip(KNOB_NAMES, shown_values("xtts_fast", None)))
    entry = saved(history, "Mais calma.", engine="xtts", profile="xtts_fast", knobs={"temperature": 0.5, "top_k": 30})
    assert form_values(entry)["knobs"] == {"temperature": 0.5, "top_k": 30}
    updates = fill(targets, entry)
    assert len(updates) == len(targets.outputs()) and targets.outputs()[-len(KNOB_NAMES):] == dub_knobs.page
    pending, sliders = shown_knobs(updates, targets, "dub")
    assert sliders == {**fast, "temperature": 0.5} and sliders["temperature"] != fast["temperature"]
    assert pending == {"profile": "xtts_fast", "voice": None, "knobs": {"temperature": 0.5, "top_k": 30}}
    assert all(isinstance(u, type(gr.skip())) for u in shown_knobs(updates, targets, "clone")[1].values())
    assert "with its knobs temperature 0.5." in filled_message(entry)  # top_k 30 is xtts_fast's own

    # The profile's change re-shows the knobs a moment later (maybe more than once, maybe first with the old
    # profile): the pending ones over the profile's when it is theirs, the profile's alone otherwise.
    def handler(component, event: str):
        (fn,) = [fn for fn in demo.fns.values() if (component._id, event) in fn.targets]
        return fn

    follow = handler(dub["quality_profile"], "change").fn
    for _ in range(2):
        *values, note = follow("xtts", "xtts_fast", pending)
        assert dict(zip(KNOB_NAMES, values)) == sliders and note == ""
    assert follow("f5tts", "f5tts_balanced", pending)[:-1] == shown_values("f5tts_balanced", None)
    assert follow("xtts", "xtts_fast", None)[:-1] == list(fast.values())
    # The user's own pick of an engine or a profile (not Use again's) drops them.
    drop = handler(dub["quality_profile"], "input")
    assert drop is handler(dub["engine"], "input") and drop.outputs == [dub_knobs.pending] and drop.fn() is None

    # Made without knobs: the profile's values, whatever the sliders showed before.
    plain = saved(history, "Sem botões.", profile="f5tts_fast")
    pending, sliders = shown_knobs(fill(targets, plain), targets, "dub")
    assert sliders == dict(zip(KNOB_NAMES, shown_values("f5tts_fast", None))) and pending["knobs"] == {}
    assert "knobs" not in filled_message(plain)

    cloned = saved(history, "Clonada, mais passos.", clone=True, knobs={"nfe_step": 6})
    updates = fill(targets, cloned)
    pending, sliders = shown_knobs(updates, targets, "clone")
    assert sliders["nfe_step"] == 6 and pending["knobs"] == {"nfe_step": 6}
    assert all(isinstance(u, type(gr.skip())) for u in shown_knobs(updates, targets, "dub")[1].values())


def test_knobs_a_damaged_record_cannot_show_are_left_out_and_named(history):
    entry = saved(history, "Estragado.", engine="xtts")
    damaged = dataclasses.replace(entry, request={**entry.request,
                                                  "knobs": {"temperature": 9, "bogus": 1, "top_k": 20, "top_p": None}})
    assert saved_knobs(damaged) == ({"top_k": 20}, ["temperature", "bogus"])
    assert form_values(damaged)["knobs"] == {"top_k": 20}
    assert "Knobs not restored (not valid values): temperature, bogus." in filled_message(damaged)
    assert saved_knobs(dataclasses.replace(entry, request={**entry.request, "knobs": [1, 2]})) == ({}, ["knobs"])
