#!/usr/bin/env bash
# The load benchmark (issue 11):
#   bash tests/benchmarks/run_load.sh [--devices 50] [--tenants 5] [--seconds 20]
#                                     [--batch 100] [--max-batches 60] [--out DIR]
# Installs the project with its `server` extra into .venv (and PostgreSQL 15 when it is
# missing, as tests/run.sh does), then runs tests/benchmarks/bench_load.py. It starts and
# stops a private cluster of its own and sends traffic only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
. packaging/lib.sh
# shellcheck disable=SC2046  # one package per word
apt_install $(missing_server_packages)
venv_install test,server
exec .venv/bin/python tests/benchmarks/bench_load.py "$@"
