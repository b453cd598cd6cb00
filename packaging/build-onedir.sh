#!/usr/bin/env bash
# Builds the frozen app (PyInstaller onedir, packaging/closeplan-desktop.spec) into
# dist/closeplan-desktop/ and runs its self-test under a private keyring session:
#
#   QT_QPA_PLATFORM=offscreen dbus-run-session -- packaging/with-keyring.sh \
#       dist/closeplan-desktop/closeplan-desktop --self-test
#
# On a fresh Debian machine it installs what it needs (python3-venv, binutils for
# PyInstaller, gnome-keyring and dbus for the keyring session, the libraries Qt needs
# offscreen) and the project with its `build` extra (PyInstaller) into .venv.
# Used by build-linux.sh and ci-check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_lib() { ldconfig -p 2>/dev/null | grep "$1" >/dev/null; }  # no -q: SIGPIPE + pipefail
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v objdump >/dev/null || need+=(binutils)
command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
command -v dbus-run-session >/dev/null || need+=(dbus-daemon dbus-user-session)
have_lib 'libEGL.so.1' || need+=(libegl1)
have_lib 'libxkbcommon.so.0' || need+=(libxkbcommon0)
have_lib 'libfontconfig.so.1' || need+=(libfontconfig1)
have_lib 'libglib-2.0.so.0' || need+=(libglib2.0-0)
have_lib 'libdbus-1.so.3' || need+=(libdbus-1-3)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
log="$(mktemp -t closeplan-build.XXXXXX)"
trap 'rm -f "$log"' EXIT
echo "== Installing the project and PyInstaller into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[build]' >"$log" 2>&1 \
  || { cat "$log" >&2; exit 1; }

echo "== Building the onedir (PyInstaller)"
rm -rf dist/closeplan-desktop build/pyinstaller
if ! .venv/bin/pyinstaller --noconfirm --clean --log-level WARN --distpath dist \
    --workpath build/pyinstaller packaging/closeplan-desktop.spec >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
# Libraries PyInstaller could not find here are system libraries the .deb depends on.
grep -o "could not resolve '[^']*'" "$log" | sort -u | sed 's/^/   note: /' || true
for exe in closeplan-desktop closeplan-admin; do
  [ -x "dist/closeplan-desktop/$exe" ] || { echo "missing dist/closeplan-desktop/$exe" >&2; exit 1; }
done
dist/closeplan-desktop/closeplan-admin --version

echo "== Self-test of the frozen app (private keyring session, offscreen Qt)"
export QT_QPA_PLATFORM=offscreen
dbus-run-session -- packaging/with-keyring.sh dist/closeplan-desktop/closeplan-desktop --self-test \
  2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
