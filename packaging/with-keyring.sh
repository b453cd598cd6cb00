#!/usr/bin/env bash
# Runs a command with a fresh, unlocked gnome-keyring (Secret Service) of its own.
# Call it inside a private D-Bus session: dbus-run-session -- packaging/with-keyring.sh CMD...
# gnome-keyring unlocks a stored keyring only with the password it was made with, so each
# run gets its own XDG_DATA_HOME and a random password it never writes down.
set -euo pipefail
XDG_DATA_HOME="$(mktemp -d -t closeplan-xdg-data.XXXXXX)"
XDG_CONFIG_HOME="$(mktemp -d -t closeplan-xdg-config.XXXXXX)"
export XDG_DATA_HOME XDG_CONFIG_HOME
trap 'rm -rf "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"' EXIT
password="$(head -c 24 /dev/urandom | base64)"
eval "$(printf '%s' "$password" | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
unset password
export GNOME_KEYRING_CONTROL
"$@"
