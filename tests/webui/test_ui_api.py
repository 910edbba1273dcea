"""The API as a client sees it (``python app.py`` on tiny models, gradio_client): the app's own
messages for values that are not numbers, named outputs, no admin endpoints unless asked
for, and failures listed with their kind."""

from __future__ import annotations

import re

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from devtools.app_process import AppProcess, call

pytestmark = pytest.mark.app



@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    with AppProcess(tiny_env, tmp_path_factory.mktemp("ui_api_app"), name="ui_api_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app):
    return app.client()


DUB = dict(text="hello there.", language="en", voice_preset="male_generic", engine="xtts",
           quality_profile="xtts_fast")


@pytest.mark.parametrize("field, value, message", [
    ("seed", "abc", "seed 'abc' is not a number"),
    ("seed", "1.5", "seed '1.5' must be a whole number"),
    ("seed", "nan", "seed 'nan' is not a finite number"),
    ("speed", "fast", "speed 'fast' is not a number"),
])
def test_dub_names_the_value_that_is_not_a_number(client, field, value, message):
    with pytest.raises(AppError) as raised:
        call(client, "/dub", **{**DUB, field: value})
    assert message in str(raised.value)


def test_clone_names_the_seed_that_is_not_a_number(client, reference_wav):
    with pytest.raises(AppError, match="seed 'twelve' is not a number"):
        call(client, "/clone", reference_audio=handle_file(str(reference_wav)), reference_text="a clip.",
             text="hello there.", language="en", engine="xtts", quality_profile="xtts_fast", seed="twelve")


@pytest.mark.parametrize("value, message", [
    ("abc", "limit 'abc' is not a number"),
    (2.5, "limit 2.5 is not a whole number"),
    ("0", "limit 0 is out of range; use 1 to 200"),
])
def test_history_names_the_limit_that_is_not_a_whole_number(client, value, message):
    with pytest.raises(AppError) as raised:
        call(client, "/history", limit=value)
    assert message in str(raised.value)
    assert isinstance(call(client, "/history", limit="3"), list)  # a number sent as text still works


def test_outputs_are_named_and_there_is_no_admin_api(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/dub", "/clone", "/engine_status", "/history"} <= set(endpoints)
    assert not {"/load_engine", "/unload_engine"} & set(endpoints)
    for name, info in endpoints.items():
        for output in info["returns"]:
            assert output["label"] and not re.fullmatch(r"value_\d+", output["label"]), (name, output)
    assert [r["label"] for r in endpoints["/history"]["returns"]] == ["History entries"]


def test_history_tells_input_mistakes_from_engine_failures(client):
    with pytest.raises(AppError, match="text is empty"):
        call(client, "/dub", **{**DUB, "text": "  "})
    newest = call(client, "/history", limit=1)[0]
    assert newest["status"] == "error" and newest["metadata"]["error_kind"] == "input"
