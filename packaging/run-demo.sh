#!/usr/bin/env bash
# Install ClosePlan Desktop from this checkout and open it on the demo tenant (README "Run
# it"). On a desktop it opens the window; without a display it shows the same data through
# closeplan-admin. On a fresh Debian machine it installs what it needs: Python's venv,
# and, when no desktop keyring is running, gnome-keyring and dbus for a private one.
set -euo pipefail
cd "$(dirname "$0")/.."

. packaging/lib.sh
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
echo "Installing ClosePlan Desktop into .venv ..."
venv_install
export PATH="$PWD/.venv/bin:$PATH"

tour() {
  local admin="admin@riverside-health.example" pw="Riverside-Demo-2026"
  closeplan-admin demo
  echo
  echo "== Pipeline =="
  echo "$pw" | closeplan-admin deals summary --as "$admin" --password-stdin
  echo
  echo "== The 10 largest active deals =="
  echo "$pw" | closeplan-admin deals list --status ACTIVE --sort value --limit 10 \
    --as "$admin" --password-stdin
  echo
  echo "== Health check =="
  closeplan-admin doctor
}

has_keyring() {
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && .venv/bin/python -c 'import keyring, sys
kr = keyring.get_keyring()
sys.exit("SecretService" not in type(kr).__module__ + type(kr).__name__)' 2>/dev/null
}

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && has_keyring; then
  # Qt's X11 and Wayland plugins need these on a minimal Debian desktop.
  need=()
  for lib in libxcb-cursor.so.0:libxcb-cursor0 libxkbcommon-x11.so.0:libxkbcommon-x11-0 \
             libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1 \
             libEGL.so.1:libegl1 libfontconfig.so.1:libfontconfig1; do
    ldconfig -p | grep "${lib%%:*}" >/dev/null || need+=("${lib##*:}")
  done
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  # A desktop session: open the window on the demo workspace (credentials are shown on
  # the sign-in window).
  exec closeplan-desktop --demo
elif has_keyring; then
  tour
else
  # No desktop session: a private D-Bus session and keyring for this run only. The keys
  # (and so the demo workspace) last as long as this run; on a desktop they persist.
  command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null \
    || apt_install gnome-keyring dbus-daemon dbus-user-session
  echo "No desktop keyring found: using a private one for this run."
  export CLOSEPLAN_HOME="${CLOSEPLAN_HOME:-$(mktemp -d -t closeplan-demo.XXXXXX)/workspace}"
  export -f tour
  dbus-run-session -- packaging/with-keyring.sh bash -c tour \
    2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
fi
