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

. packaging/lib.sh
need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v objdump >/dev/null || need+=(binutils)
# shellcheck disable=SC2046  # one package per word
apt_install "${need[@]}" $(missing_runtime_packages)

echo "== Installing the project and PyInstaller into .venv"
venv_install build
log="$(mktemp -t closeplan-build.XXXXXX)"
trap 'rm -f "$log"' EXIT

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
