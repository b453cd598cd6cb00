#!/usr/bin/env bash
# The test command (README "Run the tests"; .ci/run calls exactly this).
# On a fresh Debian machine it installs what the tests need: the system packages
# (gnome-keyring for the real Secret Service, dbus for a private session bus, the
# libraries Qt needs offscreen, PostgreSQL 15 with PL/Python for the server's tests), a
# virtual environment with the project and its test and server extras; then it runs the
# whole suite against a real, private, unlocked keyring (the server's tests start and
# stop a PostgreSQL cluster of their own).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/lib.sh
# shellcheck disable=SC2046  # one package per word
apt_install $(missing_runtime_packages) $(missing_server_packages)
venv_install test,server

export QT_QPA_PLATFORM=offscreen
# dbus-daemon's notice about the fd limit of unprivileged containers is noise.
exec dbus-run-session -- packaging/with-keyring.sh .venv/bin/python -m pytest "$@" \
  2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
