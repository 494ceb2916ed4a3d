#!/usr/bin/env bash
# Install everything the tests need on Debian/Ubuntu, then run them (lint included).
# Uses sudo when not run as root. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# venv for Debian's Python; a real RTSP server for the camera tests (GStreamer via python3-gi);
# the deploy tests' checkers: shellcheck, systemd-analyze (systemd), desktop-file-validate;
# the dashboard's end-to-end tests drive Debian's headless Chromium through chromium-driver;
# the MQTT tests start their own Mosquitto broker on a loopback port.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends \
    python3-venv python3-gi gir1.2-gst-rtsp-server-1.0 \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly \
    shellcheck systemd desktop-file-utils chromium chromium-driver mosquitto >/dev/null

python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
exec .venv/bin/python -m pytest "$@"
