#!/usr/bin/env bash
# Runs a command with a fresh, unlocked gnome-keyring (Secret Service) of its own.
# Call it inside a private D-Bus session: dbus-run-session -- packaging/with-keyring.sh CMD...
# gnome-keyring unlocks a stored keyring only with the password it was made with, so each
# run gets its own XDG_DATA_HOME and a random password it never writes down. It also gets
# its own XDG_RUNTIME_DIR: the daemon keeps its control socket there, and a second run
# started beside this one (another test run on the same machine) would otherwise take
# over this run's daemon and lock its keyring mid-run.
set -euo pipefail
XDG_DATA_HOME="$(mktemp -d -t closeplan-xdg-data.XXXXXX)"
XDG_CONFIG_HOME="$(mktemp -d -t closeplan-xdg-config.XXXXXX)"
XDG_RUNTIME_DIR="$(mktemp -d -t closeplan-xdg-runtime.XXXXXX)"
export XDG_DATA_HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR
trap 'rm -rf "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"' EXIT
# A daemon that dies mid-run is started again by D-Bus: it must serve this run's keyring
# (these folders), not the user's own.
dbus-update-activation-environment XDG_DATA_HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR
password="$(head -c 24 /dev/urandom | base64)"
eval "$(printf '%s' "$password" | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
export GNOME_KEYRING_CONTROL
# The restarted daemon finds the keyring locked and cannot prompt without a display; the
# test suite unlocks it again with this password (tests/keyring_care.py takes it out of
# its environment at once). It opens only this run's throwaway keyring, deleted on exit.
CLOSEPLAN_TEST_KEYRING_PASSWORD="$password"
unset password
export CLOSEPLAN_TEST_KEYRING_PASSWORD
"$@"
