#!/usr/bin/env bash
# Creates .venv (Python 3.11), installs the project with its test extras, and fetches + assembles the local
# OpenSearch from Maven Central (cached under ~/.cache/sigma-es). Safe to rerun: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/sigma-es cluster fetch >&2
# Headless Chromium for the test that looks at the HTML coverage report (Debian's chromium-headless-shell).
# Installed only as root with apt-get (CI); elsewhere the test is skipped until a browser is there
# (or SIGMA_ES_CHROMIUM=/path/to/chrome).
if ! command -v chromium-headless-shell >/dev/null && ! command -v chromium >/dev/null \
    && [ -z "${SIGMA_ES_CHROMIUM:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >&2
  else
    echo "note: no headless Chromium; install chromium-headless-shell (Debian) to run the report screenshot test" >&2
  fi
fi
