"""The Engine status tab's speech-quality block: speech recognition's card and a Verify button
per engine ("does the loaded checkpoint really speak?"), plus the ``/verify_engine`` API."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from engines import EngineManager, EngineUnavailableError, InputError, NoEngineAvailableError
from engines.quality.speaker import SpeakerVerifier
from engines.quality.verify import VERIFY_SENTENCES, verify_engine

from ...serving.admin import AdminPolicy
from ...serving.labels import engine_label

logger = logging.getLogger("voice_studio.webui")

ASR_STATUS = {"available": ("#16a34a", "Loaded"), "not_loaded": ("#6b7280", "Not loaded (loads on first use)"),
              "unavailable": ("#dc2626", "Unavailable")}
VERDICT_COLOUR = {"speaks clearly": "#16a34a", "hard to understand": "#f59e0b"}


def render_asr(health: dict[str, Any] | None) -> str:
    """A small card for speech recognition, from ``health()["asr"]``."""
    asr = (health or {}).get("asr")
    if not asr:
        return ""
    colour, wording = ASR_STATUS.get(asr["status"], ("#6b7280", asr["status"]))
    rows = [("Model", asr.get("model")), ("Device", asr.get("device")), ("Set with", asr.get("variable")),
            ("Load time", f"{asr['load_s']:.1f} s" if asr.get("load_s") is not None else None),
            ("Last error", asr.get("error"))]
    cells = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{html.escape(k)}</th>"
                    f"<td style='word-break:break-all'>{html.escape(str(v))}</td></tr>" for k, v in rows if v)
    return (f"<div class='vs-asr-card' data-status='{html.escape(asr['status'])}' style='border:1px solid #d1d5db;"
            f"border-radius:10px;padding:12px'><b>{html.escape(asr.get('name', 'Speech recognition'))}</b> "
            f"<span style='background:{colour};color:#fff;border-radius:999px;padding:2px 10px;font-size:0.75em'>"
            f"{html.escape(wording)}</span><p style='margin:6px 0'>Transcribes reference clips that come without "
            f"a transcript (F5-TTS needs one) and hears what Verify synthesises.</p>"
            f"<table style='border:none;font-size:0.9em'>{cells}</table></div>")


def render_verdict(report: dict[str, Any] | None) -> str:
    if not report or "verdict" not in report:
        return ""
    colour = VERDICT_COLOUR.get(report["verdict"], "#dc2626")
    similarity = report.get("speaker_similarity")
    parts = [f"<b>{html.escape(engine_label(report['engine']))}</b> ({html.escape(report['language'])}): "
             f"<span data-verdict style='color:{colour};font-weight:700'>{html.escape(report['verdict'])}</span>",
             f"CER {report['cer']:.1%}, WER {report['wer']:.1%}"]
    if similarity is not None:
        parts.append(f"speaker similarity {similarity:.2f}")
    if report.get("asr_reliable") is False:
        parts.append("speech recognition misheard the reference too: this verdict cannot be trusted")
    return "<p id='verify-summary'>" + " · ".join(parts) + "</p>"


def make_verify(manager: EngineManager, speaker: SpeakerVerifier) -> Callable[..., dict[str, Any]]:
    def verify(engine: str, language: str = "", progress: Callable | None = None) -> dict[str, Any]:
        """Synthesise a fixed sentence with ``engine``, transcribe it, and report CER, WER and a verdict."""
        def report(fraction: float, message: str) -> None:
            if progress is not None:
                progress(fraction, desc=message)

        try:
            return verify_engine(manager, engine or "", language or None, speaker=speaker, progress=report)
        except InputError as exc:
            raise gr.Error(str(exc), title="Bad input", print_exception=False) from exc
        except NoEngineAvailableError as exc:
            reasons = " | ".join(f"{engine_label(n)}: {why}" for n, why in exc.reasons.items())
            raise gr.Error(f"{engine_label(engine)} cannot speak: {reasons}", title="Verify failed",
                           print_exception=False) from exc
        except EngineUnavailableError as exc:
            raise gr.Error(str(exc), title="Verify needs speech recognition", print_exception=False) from exc

    return verify


def build_verify_panel(manager: EngineManager, health_json: gr.JSON, admin: AdminPolicy | None = None,
                       speaker: SpeakerVerifier | None = None,
                       health: Callable[[], dict[str, Any]] | None = None) -> list[gr.Row]:
    """Inside the status tab: the ASR card, Verify per engine, the report, and for admins Load ASR.
    ``speaker``: the speaker model the status tab reports on (default: one of its own); ``health``:
    what ``health_json`` holds (default: ``manager.health``).

    Returns the rows only admins see (shown per user on page load, like engine Load / Unload).
    """
    admin = admin or AdminPolicy()
    health = health or manager.health
    speaker = speaker or SpeakerVerifier.from_env(manager.settings.device, manager.on_device, manager.asr.load_lock)
    verify = make_verify(manager, speaker)
    gr.Markdown("### Speech quality")
    asr_card = gr.HTML(elem_id="status-asr")
    with gr.Row():
        language = gr.Dropdown([""] + list(VERIFY_SENTENCES), value="", allow_custom_value=True,
                               label="Verify in (empty: the engine's first language)", elem_id="verify-language")
        buttons = {name: gr.Button(f"Verify {engine_label(name)}", elem_id=f"status-verify-{name}")
                   for name in manager.engines}
    admin_rows: list[gr.Row] = []
    if admin.enabled:  # loading a model is an admin action; requests and Verify load it when needed
        with gr.Row(visible=admin.everyone) as row:
            load_asr = gr.Button("Load speech recognition", elem_id="status-load-asr")
        admin_rows.append(row)
    summary = gr.HTML(elem_id="verify-verdict")
    with gr.Accordion("Verify report", open=False):
        report = gr.JSON(label="Report", elem_id="verify-report")
    health_json.change(render_asr, inputs=health_json, outputs=asr_card, api_visibility="private")
    report.change(render_verdict, inputs=report, outputs=summary, api_visibility="private")

    def load(request: gr.Request = None) -> dict[str, Any]:
        admin.require(request, "load speech recognition")
        asr = manager.asr.load()
        if asr["status"] != "available":
            gr.Warning(f"Speech recognition could not be loaded: {asr['error']}")
        return health()

    if admin.enabled:
        load_asr.click(load, outputs=health_json, api_visibility="private", concurrency_id="engine_admin",
                       concurrency_limit=1)
    for name, button in buttons.items():
        def verify_this(language_value: str, progress=gr.Progress(), name=name) -> dict[str, Any]:
            return verify(name, language_value, progress)

        button.click(verify_this, inputs=language, outputs=report, api_visibility="private",
                     concurrency_id="verify", concurrency_limit=1
                     ).then(health, outputs=health_json, api_visibility="private")

    def verify_engine_api(engine: str, language: str = "") -> dict[str, Any]:
        """Synthesise a fixed sentence with ``engine`` (f5tts | xtts) in ``language`` (empty: the engine's
        first), transcribe it with Whisper, and report CER, WER, speaker similarity and a verdict."""
        return verify(engine, language)

    gr.api(verify_engine_api, api_name="verify_engine", concurrency_id="verify", concurrency_limit=1)
    return admin_rows
