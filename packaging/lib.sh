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

# The Debian packages of every library Qt's X11 (xcb) platform plugin links that this
# machine lacks, read from `ldd` of the plugin and its Qt libraries (not from Qt's error
# message, which names only the first one missing). Call after venv_install.
missing_xcb_packages() {
  local qt lib pkg
  qt="$(.venv/bin/python -c 'import PySide6, pathlib; print(pathlib.Path(PySide6.__file__).parent / "Qt")')"
  for lib in $(ldd "$qt/plugins/platforms/libqxcb.so" "$qt/lib/libQt6XcbQpa.so.6" \
               "$qt/lib/libQt6Gui.so.6" 2>/dev/null | awk '/not found/ {print $1}' | sort -u); do
    pkg="$(xcb_package "$lib")"
    if [ -n "$pkg" ]; then echo "$pkg"; else echo "ClosePlan: no package known for $lib" >&2; fi
  done
}

# The Debian (12) package holding a library the xcb plugin links.
xcb_package() {
  case "$1" in
    libxcb.so.1) echo libxcb1 ;;
    libxcb-cursor.so.0) echo libxcb-cursor0 ;;
    libxcb-icccm.so.4) echo libxcb-icccm4 ;;
    libxcb-image.so.0) echo libxcb-image0 ;;
    libxcb-keysyms.so.1) echo libxcb-keysyms1 ;;
    libxcb-randr.so.0) echo libxcb-randr0 ;;
    libxcb-render-util.so.0) echo libxcb-render-util0 ;;
    libxcb-render.so.0) echo libxcb-render0 ;;
    libxcb-shape.so.0) echo libxcb-shape0 ;;
    libxcb-shm.so.0) echo libxcb-shm0 ;;
    libxcb-sync.so.1) echo libxcb-sync1 ;;
    libxcb-util.so.1) echo libxcb-util1 ;;
    libxcb-xfixes.so.0) echo libxcb-xfixes0 ;;
    libxcb-xkb.so.1) echo libxcb-xkb1 ;;
    libxcb-xinput.so.0) echo libxcb-xinput0 ;;
    libX11-xcb.so.1) echo libx11-xcb1 ;;
    libX11.so.6) echo libx11-6 ;;
    libXau.so.6) echo libxau6 ;;
    libXdmcp.so.6) echo libxdmcp6 ;;
    libxkbcommon-x11.so.0) echo libxkbcommon-x11-0 ;;
    libxkbcommon.so.0) echo libxkbcommon0 ;;
    libEGL.so.1) echo libegl1 ;;
    libGL.so.1|libGLX.so.0|libGLdispatch.so.0) echo libgl1 ;;
    libOpenGL.so.0) echo libopengl0 ;;
    libfontconfig.so.1) echo libfontconfig1 ;;
    libfreetype.so.6) echo libfreetype6 ;;
    libdbus-1.so.3) echo libdbus-1-3 ;;
    libglib-2.0.so.0|libgthread-2.0.so.0) echo libglib2.0-0 ;;
    libpng16.so.16) echo libpng16-16 ;;
    libz.so.1) echo zlib1g ;;
    *) ;;
  esac
}
