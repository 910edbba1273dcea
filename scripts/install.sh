#!/usr/bin/env bash
# Install Voice Studio into ./.venv. With --dev, also what the tests need.
# Both fetch the Studio timeline's pinned wavesurfer.js from the npm registry (npm pack where npm
# is installed, else a plain download), check its sha512 and unpack it into the git-ignored
# webui/static/vendor/wavesurfer (webui/tabs/studio/vendor.py).
# System packages (ffmpeg; chromium + chromedriver for the browser test, espeak-ng for the video
# tests' generated speech) come from apt.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_packages=()
command -v ffmpeg >/dev/null 2>&1 || apt_packages+=(ffmpeg)
if [ "$dev" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
  command -v espeak-ng >/dev/null 2>&1 || apt_packages+=(espeak-ng)   # speaks the video-dubbing tests' source
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-ray.txt   # the Ray Serve path's tests
fi
.venv/bin/python webui/tabs/studio/vendor.py
