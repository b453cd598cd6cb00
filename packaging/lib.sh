# Shell helpers shared by tests/run.sh, tests/benchmarks/run.sh and the packaging scripts.
# Source it from the repository root: . packaging/lib.sh

have_lib() { ldconfig -p 2>/dev/null | grep "$1" >/dev/null; }  # no -q: SIGPIPE + pipefail

# The Debian packages missing for the app and its tests at run time: gnome-keyring for
# the real Secret Service, dbus for a private session bus, the libraries Qt needs
# offscreen. Prints them, space-separated.
missing_runtime_packages() {
  command -v gnome-keyring-daemon >/dev/null || echo gnome-keyring
  command -v dbus-run-session >/dev/null || echo dbus-daemon dbus-user-session
  have_lib 'libEGL.so.1' || echo libegl1
  have_lib 'libxkbcommon.so.0' || echo libxkbcommon0
  have_lib 'libfontconfig.so.1' || echo libfontconfig1
  have_lib 'libglib-2.0.so.0' || echo libglib2.0-0
  have_lib 'libdbus-1.so.3' || echo libdbus-1-3
}

# The Debian packages missing for the server's tests: PostgreSQL 15 (the tests start a
# private cluster of their own), PL/Python for decrypt_phi, and the system Python's
# cryptography, which PL/Python imports. Prints them, space-separated.
missing_server_packages() {
  [ -x /usr/lib/postgresql/15/bin/initdb ] || echo postgresql-15
  [ -f /usr/lib/postgresql/15/lib/plpython3.so ] || echo postgresql-plpython3-15
  [ "$(dpkg-query -W -f='${Status}' python3-cryptography 2>/dev/null)" = \
    "install ok installed" ] || echo python3-cryptography
}

# apt-get install the packages named (nothing when none are), with sudo unless root.
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "Installing system packages: $*"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "$@" >/dev/null
}

# Make .venv if needed (with $PYTHON, default python3) and install the project with the
# extras named (e.g. test,bench; none: the app alone); pip's output is shown only when it
# fails.
venv_install() {
  local python="${PYTHON:-python3}" log spec="."
  [ -n "${1:-}" ] && spec=".[$1]"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  log="$(mktemp -t closeplan-pip.XXXXXX)"
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" \
      >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}
