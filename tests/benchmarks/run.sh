#!/usr/bin/env bash
# The benchmark command (docs/benchmarks.md):
#   bash tests/benchmarks/run.sh [--sizes 10000,100000,1000000] [--out DIR] [--repeat N]
# Installs the project with its `bench` extra into .venv, then runs tests/benchmarks/bench.py
# inside a private D-Bus session with its own unlocked gnome-keyring (as tests/run.sh does),
# offscreen. On a fresh machine it installs the same system packages as tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
. packaging/lib.sh
# shellcheck disable=SC2046  # one package per word
apt_install $(missing_runtime_packages)
venv_install test,bench
export QT_QPA_PLATFORM=offscreen
exec dbus-run-session -- packaging/with-keyring.sh .venv/bin/python tests/benchmarks/bench.py "$@" \
  2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
