#!/usr/bin/env bash
# The test command (README "Run the tests"; .ci/run calls exactly this).
# On a fresh Debian machine it installs what the tests need: the system packages
# (gnome-keyring for the real Secret Service, dbus for a private session bus, the
# libraries Qt needs offscreen), a virtual environment with the project and its test
# extra; then it runs the whole suite against a real, private, unlocked keyring.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have_lib() { ldconfig -p 2>/dev/null | grep "$1" >/dev/null; }
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v dbus-run-session >/dev/null || missing+=(dbus-daemon dbus-user-session)
have_lib 'libEGL.so.1' || missing+=(libegl1)
have_lib 'libxkbcommon.so.0' || missing+=(libxkbcommon0)
have_lib 'libfontconfig.so.1' || missing+=(libfontconfig1)
have_lib 'libglib-2.0.so.0' || missing+=(libglib2.0-0)
have_lib 'libdbus-1.so.3' || missing+=(libdbus-1-3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip_log="$(mktemp -t closeplan-pip.XXXXXX)"
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' \
    >"$pip_log" 2>&1; then
  cat "$pip_log" >&2
  exit 1
fi
rm -f "$pip_log"

export QT_QPA_PLATFORM=offscreen
# dbus-daemon's notice about the fd limit of unprivileged containers is noise.
exec dbus-run-session -- packaging/with-keyring.sh .venv/bin/python -m pytest "$@" \
  2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
