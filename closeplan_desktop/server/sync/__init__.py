"""Sync between the desktops and the server: push (a device's queued changes) and pull."""
