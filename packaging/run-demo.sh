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
  # Every library Qt's X11 plugin links (ldd), installed if missing on a minimal desktop.
  # shellcheck disable=SC2046  # one package per word
  apt_install $(missing_xcb_packages | sort -u)
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
  # The CLI's "Try: closeplan-admin ..." would point at keys that end with this run.
  export CLOSEPLAN_EPHEMERAL_KEYRING=1
  export -f tour
  dbus-run-session -- packaging/with-keyring.sh bash -c tour \
    2> >(grep -v -e 'Failed to set fd limit' -e 'dbus-daemon\[' >&2)
  cat <<'END'

This run's keyring, and with it the demo's keys, ended with the run. To try
closeplan-admin yourself, open a shell with a keyring of its own and run it there:

  dbus-run-session -- packaging/with-keyring.sh bash
  export PATH="$PWD/.venv/bin:$PATH"
  closeplan-admin demo
  closeplan-admin deals list --as admin@riverside-health.example

(On a desktop session, bash packaging/run-demo.sh opens the window instead.)
END
fi
