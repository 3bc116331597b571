#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine and run all of it
# (engine, figures, AppTest pages, and real headless-Chromium browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here),
# libgomp for numba's OpenMP threading layer, fonts so screenshots have readable text, nginx as the proxy
# in front of replicas.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/libgomp.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libgomp.so.1 ] || need+=(libgomp1)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
# nginx for tests/test_replicas.py (two replicas behind it, scripts/serve.sh); only its binary is used
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# redis-server for the classroom rooms shared by replicas (tests/test_rooms_store.py, tests/test_replicas.py)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python -m pytest "$@"
