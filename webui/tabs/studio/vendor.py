"""wavesurfer.js for the Studio's timeline: a pinned npm release, fetched, checked, never committed.

    python webui/tabs/studio/vendor.py            # what scripts/install.sh runs (stdlib only)
    python webui/tabs/studio/vendor.py --check    # exit 0 when the files are in place

The package tarball comes from the npm registry: through ``npm pack`` where npm is
installed, else downloaded with urllib. Either way its sha512 must equal ``INTEGRITY``
(the registry's ``dist.integrity`` for ``VERSION``) before anything is read from it, and
only the files the page loads are taken out of it (regular files, bounded in size, by
name: no member path is ever followed). They land in ``VOICE_STUDIO_TIMELINE_DIR``
(default ``webui/static/vendor/wavesurfer``, git-ignored) beside the verified tarball (a
reinstall reads it again, checked again, without the network), and ``VERSION`` is
written last, so a half-fetched folder never counts as installed. The app serves that folder
and, on its first start without it, fetches it in the background where the network
allows (``VOICE_STUDIO_TIMELINE_FETCH=off`` to never try).

To move to a newer release: change ``VERSION`` and ``INTEGRITY`` together (``npm view
wavesurfer.js@X dist.integrity``), run this, and check the timeline in the browser tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.request
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger("voice_studio.webui.studio.vendor")

PACKAGE = "wavesurfer.js"
VERSION = "8.0.1"
INTEGRITY = "sha512-h0OnRWSVTqIYLSw3/IVrBtsun/xw9L5u4FA3bjfSDTFMX/xswVWS1JwK4fFu3ulmxRUSHg8zQORl6zENG983eg=="
LICENSE = "BSD-3-Clause"
REGISTRY = "https://registry.npmjs.org"
# package member -> file name served to the page (UMD builds: they define window.WaveSurfer)
FILES = {"package/dist/wavesurfer.min.js": "wavesurfer.min.js",
         "package/dist/plugins/regions.min.js": "regions.min.js",
         "package/dist/plugins/timeline.min.js": "timeline.min.js",
         "package/LICENSE": "LICENSE"}
STAMP = "VERSION"
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
ENV_DIR = "VOICE_STUDIO_TIMELINE_DIR"
ENV_FETCH = "VOICE_STUDIO_TIMELINE_FETCH"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "static" / "vendor" / "wavesurfer"
MAX_TARBALL_BYTES = 8 * 2**20
MAX_MEMBER_BYTES = 2 * 2**20
TIMEOUT_S = 60
HOW_TO_GET = "run scripts/install.sh (or: python webui/tabs/studio/vendor.py)"


class VendorError(RuntimeError):
    """The package could not be fetched, or what came is not the pinned release."""


def timeline_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_DIR) or DEFAULT_DIR).expanduser()


def stamp_text() -> str:
    return f"{PACKAGE}@{VERSION} {INTEGRITY}\n"


def installed(folder: Path) -> bool:
    """The pinned release's files are all there (its stamp is written last)."""
    try:
        return (folder / STAMP).read_text(encoding="utf-8") == stamp_text() and all(
            (folder / name).is_file() for name in FILES.values())
    except OSError:
        return False


def tarball_url() -> str:
    registry = (os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY") or REGISTRY).rstrip("/")
    return f"{registry}/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def with_npm(workdir: Path) -> bytes | None:
    """The tarball through ``npm pack`` (npm's registry settings apply), or None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    proc = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", str(workdir)],
                          capture_output=True, timeout=TIMEOUT_S * 3, check=False, cwd=workdir)
    found = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or not found:
        logger.warning("npm pack failed; downloading the tarball instead",
                       extra={"stderr": proc.stderr.decode(errors="replace")[-300:]})
        return None
    if found[0].stat().st_size > MAX_TARBALL_BYTES:
        raise VendorError(f"npm gave a {found[0].stat().st_size:,}-byte tarball; {PACKAGE} {VERSION} is far smaller")
    return found[0].read_bytes()


def with_http(url: str | None = None) -> bytes:
    """The tarball downloaded from the registry (at most ``MAX_TARBALL_BYTES``)."""
    url = url or tarball_url()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:   # noqa: S310 (a fixed https URL)
            data = response.read(MAX_TARBALL_BYTES + 1)
    except OSError as exc:
        raise VendorError(f"could not download {url}: {exc}") from exc
    if len(data) > MAX_TARBALL_BYTES:
        raise VendorError(f"{url} is over {MAX_TARBALL_BYTES:,} bytes; {PACKAGE} {VERSION} is far smaller")
    return data


def verify(data: bytes) -> None:
    found = integrity_of(data)
    if found != INTEGRITY:
        raise VendorError(f"{PACKAGE} {VERSION}: the tarball's integrity is {found[:24]}…, not the pinned "
                          f"{INTEGRITY[:24]}…: refusing it")


def extract(data: bytes, folder: Path) -> None:
    """Take ``FILES`` out of a verified tarball into ``folder``; the stamp last."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member_name, target in FILES.items():
            try:
                member = archive.getmember(member_name)
            except KeyError as exc:
                raise VendorError(f"{PACKAGE} {VERSION} has no {member_name}") from exc
            if not member.isfile() or member.size > MAX_MEMBER_BYTES:
                raise VendorError(f"{member_name} in {PACKAGE} {VERSION} is not a file of sensible size")
            content = archive.extractfile(member).read(MAX_MEMBER_BYTES + 1)
            _write(folder / target, content)
    _write(folder / STAMP, stamp_text().encode("utf-8"))


def _write(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def cached(folder: Path) -> bytes | None:
    """The verified tarball kept beside the files by an earlier fetch (a reinstall needs no network)."""
    path = folder / TARBALL
    try:
        data = path.read_bytes() if path.is_file() and path.stat().st_size <= MAX_TARBALL_BYTES else None
    except OSError:
        return None
    return data if data is not None and integrity_of(data) == INTEGRITY else None


def fetch(folder: Path | None = None, use_npm: bool = True) -> Path:
    """Fetch, verify and install the pinned release into ``folder``; returns it."""
    folder = timeline_dir() if folder is None else Path(folder)
    if installed(folder):
        return folder
    data = cached(folder)
    if data is None:
        with tempfile.TemporaryDirectory(prefix="wavesurfer-") as tmp:
            data = with_npm(Path(tmp)) if use_npm else None
            if data is None:
                data = with_http()
        verify(data)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / TARBALL, data)
    extract(data, folder)
    logger.info("timeline library installed", extra={"package": PACKAGE, "version": VERSION, "folder": str(folder)})
    return folder


def fetch_in_background(environ: Mapping[str, str] | None = None) -> threading.Thread | None:
    """On a start without the files (a Space's first start), fetch them in a thread, where the
    network allows; the page says how to get them until a reload finds them."""
    env = os.environ if environ is None else environ
    folder = timeline_dir(env)
    if installed(folder) or (env.get(ENV_FETCH) or "auto").strip().lower() in ("off", "0", "false", "no"):
        return None

    def work() -> None:
        try:
            fetch(folder)
        except (VendorError, OSError, subprocess.SubprocessError) as exc:  # offline: the table works alone
            logger.warning("timeline library not fetched", extra={"error": str(exc), "fix": HOW_TO_GET})

    thread = threading.Thread(target=work, name="wavesurfer-fetch", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help=f"where to put the files (default ${ENV_DIR} or "
                                                              f"{DEFAULT_DIR})")
    parser.add_argument("--no-npm", action="store_true", help="download the tarball even where npm is installed")
    parser.add_argument("--check", action="store_true", help="only say whether the files are in place")
    args = parser.parse_args(argv)
    folder = args.dir or timeline_dir()
    if args.check:
        print(f"{PACKAGE} {VERSION}: {'installed' if installed(folder) else 'missing'} in {folder}")
        return 0 if installed(folder) else 1
    try:
        fetch(folder, use_npm=not args.no_npm)
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{PACKAGE} {VERSION} ({LICENSE}) in {folder}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
