"""Run ``python app.py`` in a subprocess on loopback, for the app, browser and load tests.

Each ``AppProcess`` gets a free port, its own Gradio temp dir and output dir, and the
environment a user would set (the tiny models' variables). It stops by itself: every
wait is bounded, and ``stop()`` terminates, then kills.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    def __init__(self, env: dict[str, str], workdir: Path, name: str = "app"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = self.workdir / f"{name}.log"
        self.temp_dir = self.workdir / "gradio_tmp"
        self.output_dir = self.workdir / "outputs"
        self.env = {
            **os.environ,
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "COQUI_TOS_AGREED": "1",
            "VOICE_STUDIO_DEVICE": "cpu",
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_TEMP_DIR": str(self.temp_dir),
            "VOICE_STUDIO_OUTPUT_DIR": str(self.output_dir),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "AppProcess":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "health/engines", timeout=2).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"app did not answer within {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def client(self, **kwargs):
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=str(self.workdir / "downloads"), **kwargs)

    def health(self) -> httpx.Response:
        return httpx.get(self.url + "health/engines", timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no log: {exc})"

    def rss_bytes(self) -> int:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "AppProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def corrupt_checkpoint(source: Path, target: Path) -> Path:
    """The tiny F5 checkpoint cut in half: the header promises tensors the file does not hold."""
    data = Path(source).read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def corrupt_f5_env(tiny_env: dict[str, str], workdir: Path) -> dict[str, str]:
    """The tiny-model environment with F5TTS_CKPT pointing at a corrupt copy (forces a fallback)."""
    bad = corrupt_checkpoint(Path(tiny_env["F5TTS_CKPT"]), workdir / "f5_corrupt.safetensors")
    return {**tiny_env, "F5TTS_CKPT": str(bad)}


def make_mp3(wav: Path, target: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed (scripts/install.sh installs it)")
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav), "-codec:a", "libmp3lame",
                    "-b:a", "64k", str(target)], check=True, timeout=60)
    return target


def call(client, api_name: str, **kwargs):
    """One Gradio API call through ``client``, waited for up to ``REQUEST_TIMEOUT_S``."""
    return client.submit(api_name=api_name, **kwargs).result(timeout=REQUEST_TIMEOUT_S)
