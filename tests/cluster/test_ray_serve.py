"""The app on a real local Ray Serve cluster (``ray.init`` here, 2 CPUs), tiny models, two
replicas per engine at a quarter CPU each, driven through the app's HTTP routes: ``/v1``,
the page's API (gradio_client) and ``GET /health/engines``.

A replica that dies with a job in its hands (fault injection, ``faults.DyingReplica``) gets
the job retried on the other replica with the same seed; two deaths are a clear error; the
history and the Studio's takes keep everything that was made. One cluster for the module:
starting one costs most of this module's time.
"""

from __future__ import annotations

import concurrent.futures as futures
import io
import os
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from devtools.app_process import free_port
from dubbing.project import ProjectStore
from history import OutputHistory
from tests.cluster import faults
from tests.dubbing_support import srt

pytestmark = [pytest.mark.slow, pytest.mark.app]

REPLICAS = 2
WAIT_S = 240
REQUEST_S = 180


class Cluster:
    def __init__(self, url: str, output_dir, fault_dir, workdir):
        self.url, self.output_dir, self.fault_dir, self.workdir = url, output_dir, fault_dir, workdir

    def health(self) -> dict:
        return httpx.get(self.url + "health/engines", timeout=30).json()

    def wait_up(self) -> dict:
        """Every replica of both engines up (a test may have killed some: Serve starts new ones)."""
        deadline, health = time.monotonic() + WAIT_S, {}
        while time.monotonic() < deadline:
            health = self.health()
            if all(health["replicas"][e]["up"] == REPLICAS for e in ("f5tts", "xtts")):
                return health
            time.sleep(0.5)
        raise AssertionError(f"replicas did not come up: {health.get('replicas')}")

    def speak(self, text: str, **body) -> httpx.Response:
        payload = {"model": "xtts", "input": text, "voice": "female_generic", "language": "en",
                   "response_format": "wav", "stream": False, **body}
        return httpx.post(self.url + "v1/audio/speech", json=payload, timeout=REQUEST_S)

    def client(self) -> Client:
        return Client(self.url, verbose=False, download_files=str(self.workdir / "downloads"))

    def history_for(self, text: str):
        return [e for e in OutputHistory(self.output_dir).list() if e.text == text]


@pytest.fixture(scope="module")
def cluster(tiny_env, tmp_path_factory):
    ray = pytest.importorskip("ray", reason="requirements-ray.txt is not installed")
    from ray import serve

    from deploy.application import APP_NAME, build_application

    workdir = tmp_path_factory.mktemp("ray_cluster")
    output_dir, fault_dir = workdir / "outputs", workdir / "faults"
    fault_dir.mkdir()
    env = {**os.environ, **tiny_env, "VOICE_STUDIO_OUTPUT_DIR": str(output_dir),
           "VOICE_STUDIO_VOICES_DIR": str(workdir / "voices"), "GRADIO_TEMP_DIR": str(workdir / "gradio_tmp"),
           faults.ENV: str(fault_dir), "VOICE_STUDIO_RAY_REPLICAS": str(REPLICAS),
           "VOICE_STUDIO_RAY_CPUS": "0.25", "VOICE_STUDIO_RAY_INGRESS_CPUS": "0.25"}
    port = free_port()
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_application(env=env, replica_class=faults.DyingReplica), name=APP_NAME, route_prefix="/")
        cluster = Cluster(f"http://127.0.0.1:{port}/", output_dir, fault_dir, workdir)
        cluster.wait_up()
        yield cluster
    finally:
        serve.shutdown()
        ray.shutdown()


def test_health_counts_each_engines_replicas(cluster):
    health = cluster.wait_up()
    assert health["status"] == "healthy"
    for engine in ("f5tts", "xtts"):
        replicas = health["replicas"][engine]
        assert replicas["up"] == REPLICAS and replicas["failed"] == 0 and replicas["serve"] == {"RUNNING": REPLICAS}
        rows = health["engines"][engine]["details"]["replica_health"]
        assert len({row["replica"] for row in rows}) == REPLICAS and {row["status"] for row in rows} == {"available"}
    page = cluster.client().predict(api_name="/engine_status")  # the Engine status tab's own API
    assert page["replicas"]["xtts"]["up"] == REPLICAS


def test_v1_and_the_page_are_served_by_both_replicas(cluster):
    cluster.wait_up()
    texts = [f"Request number {i} through the ingress." for i in range(4)]
    with futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda t: cluster.speak(t, seed=7), texts))
    assert [a.status_code for a in answers] == [200] * 4
    assert {a.headers["x-engine-used"] for a in answers} == {"xtts"}
    served_by = {cluster.history_for(t)[0].metadata["replica"] for t in texts}
    assert len(served_by) == REPLICAS and all(r.startswith("xtts#") for r in served_by)
    streamed = cluster.speak("A streamed answer from a replica.", stream=True, response_format="pcm")
    assert streamed.status_code == 200 and len(streamed.content) > 0
    [entry] = cluster.history_for("A streamed answer from a replica.")
    assert entry.metadata["streamed"] and entry.metadata["replica"].startswith("xtts#")
    audio, _, metadata = cluster.client().predict(text="The page asks a replica.", language="en",
                                                  voice_preset="female_generic", engine="f5tts", quality_profile=None,
                                                  api_name="/dub")
    assert metadata["tts_engine_used"] == "f5tts" and metadata["replica"].startswith("f5tts#")
    assert sf.info(audio).samplerate == 24000


def test_a_replica_dying_mid_request_is_retried_on_the_other_with_the_same_seed(cluster):
    cluster.wait_up()
    faults.arm(cluster.fault_dir, "xtts")
    text = "This request outlives the replica that rendered it first."
    answer = cluster.speak(text)  # no seed: the app draws one, and the retry must use it again
    assert answer.status_code == 200, answer.text
    [died] = faults.deaths(cluster.fault_dir, "xtts")
    [retry] = faults.retries(cluster.fault_dir, "xtts")  # the job again, on the other replica
    assert retry["replica"] != died["replica"] and retry["seed"] == died["seed"]
    np.testing.assert_array_equal(retry["audio"], died["audio"])  # the same seed, the same audio
    [entry] = cluster.history_for(text)  # saved once, by the request that succeeded
    assert entry.ok and entry.metadata["seed"] == died["seed"] and entry.metadata["replica"] == retry["replica"]
    served, _ = sf.read(io.BytesIO(answer.content), dtype="float32")
    assert answer.headers["x-engine-used"] == "xtts" and served.shape == retry["audio"].shape
    np.testing.assert_allclose(served, retry["audio"], atol=2 / 32768)  # what the user got, but for 16-bit rounding
    health = cluster.wait_up()  # Serve replaced the dead replica
    assert health["replicas"]["xtts"]["serve"] == {"RUNNING": REPLICAS}


def test_two_replicas_dying_is_a_clear_error_and_the_app_goes_on(cluster):
    cluster.wait_up()
    faults.arm(cluster.fault_dir, "xtts", deaths=2)
    with pytest.raises(AppError) as caught:
        cluster.client().predict(text="Both replicas will die under this one.", language="en",
                                 voice_preset="female_generic", engine="xtts", quality_profile=None,
                                 allow_fallback=False, api_name="/dub")
    assert "2 replicas stopped while rendering" in str(caught.value)
    meanwhile = cluster.speak("Meanwhile F5-TTS still answers.", model="f5tts")
    assert meanwhile.status_code == 200 and meanwhile.headers["x-engine-used"] == "f5tts"
    health = cluster.wait_up()
    assert health["status"] == "healthy"


def test_a_studio_render_spreads_over_the_replicas_and_keeps_every_line(cluster):
    cluster.wait_up()
    subtitles = cluster.workdir / "scene.srt"
    subtitles.write_bytes(srt([(1.0 + 2 * i, 2.5 + 2 * i, f"line {i} of the scene.") for i in range(6)]))

    def dub_subtitles():
        return cluster.client().submit(subtitles=handle_file(str(subtitles)), language="en",
                                       voice_preset="female_generic", engine="xtts", quality_profile=None,
                                       speaker_voices=None, video=None, fit="natural",
                                       api_name="/dub_subtitles").result(timeout=REQUEST_S)

    store = ProjectStore.in_output_dir(cluster.output_dir)

    def replicas_of_newest_project() -> list[str]:
        newest = store.open(store.list()[0]["id"])
        assert all(line.status == "done" for line in newest.lines)
        return [store.load_take(newest, line.result["take_key"])[1]["replica"] for line in newest.lines]

    _, report, _, _ = dub_subtitles()
    assert report["totals"]["rendered"] == 6 and report["totals"]["failed"] == 0
    assert len(set(replicas_of_newest_project())) == REPLICAS

    faults.arm(cluster.fault_dir, "xtts")  # one replica dies mid-render: its lines go to the other
    _, report, _, _ = dub_subtitles()
    assert report["totals"]["rendered"] == 6 and report["totals"]["failed"] == 0
    assert len(faults.deaths(cluster.fault_dir, "xtts")) >= 1
    assert len(replicas_of_newest_project()) == 6
