"""Local HTTP servers for the Hub paths, no network: one that answers like the Hub, one that never answers.

``FakeHub`` serves files from local folders the way huggingface_hub 1.x asks for them:
``HEAD``/``GET /{owner}/{repo}/resolve/{revision}/{path}``, answering with the headers it
checks (``X-Repo-Commit``, ``ETag``, ``Content-Length``), 404 with ``X-Error-Code:
EntryNotFound`` for a missing file. Point ``HF_ENDPOINT`` at ``url``. ``SilentServer`` accepts
connections and never answers (a Hub behind a black-holing firewall). Both stop on exit.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, repos: dict[str, Path], chunk_delay_s: float = 0.0):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                path = hub.file_for(unquote(self.path.split("?")[0]))
                if path is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    for start in range(0, len(data), 1 << 20):  # in pieces, as a real transfer arrives
                        self.wfile.write(data[start:start + (1 << 20)])

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True)

    def file_for(self, url_path: str) -> Path | None:
        """``/{owner}/{repo}/resolve/{revision}/{path}`` -> the local file, or None."""
        parts = url_path.strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        folder = self.repos.get("/".join(parts[:2]))
        if folder is None:
            return None
        candidate = (folder / "/".join(parts[4:])).resolve()
        if folder.resolve() not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts TCP connections and never sends a byte; closes them all on exit."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:  # the 0.2 s accept timeout: look at the stop flag again
                continue
            self._held.append(connection)

    def __enter__(self) -> "SilentServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self.sock.close()


def closed_port_url() -> str:
    """A local URL nothing listens on (connections are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
