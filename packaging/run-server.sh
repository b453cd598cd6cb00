#!/usr/bin/env bash
# Install the ClosePlan server from this checkout and run a local one to try it
# (README "The server"): a private PostgreSQL cluster in the user data folder, migrated,
# the API on 127.0.0.1, and a one-time code for the first admin. Arguments go to
# `closeplan-server dev` (for example --port 8800 or --data DIR). On a fresh Debian
# machine it installs PostgreSQL 15 and PL/Python first.
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/lib.sh
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
# shellcheck disable=SC2046  # one package per word
apt_install $(missing_server_packages)
echo "Installing the ClosePlan server into .venv ..."
venv_install server
exec .venv/bin/closeplan-server dev "$@"
