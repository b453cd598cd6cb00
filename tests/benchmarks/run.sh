#!/usr/bin/env bash
# The benchmark command (README "Performance"):
#   bash tests/benchmarks/run.sh [--sizes 10000,100000,1000000] [--out DIR] [--repeat N]
# Installs the project with its `bench` extra into .venv, then runs tests/benchmarks/bench.py
# inside a private D-Bus session with its own unlocked gnome-keyring (as tests/run.sh does),
# offscreen. The system packages are the ones tests/run.sh installs: run it once first on a
# fresh machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null || {
  echo "gnome-keyring and dbus are missing: run 'bash tests/run.sh' once first." >&2; exit 1; }
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip_log="$(mktemp -t closeplan-pip.XXXXXX)"
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]' \
    >"$pip_log" 2>&1; then
  cat "$pip_log" >&2
  exit 1
fi
rm -f "$pip_log"
export QT_QPA_PLATFORM=offscreen
exec dbus-run-session -- packaging/with-keyring.sh .venv/bin/python tests/benchmarks/bench.py "$@" \
  2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
