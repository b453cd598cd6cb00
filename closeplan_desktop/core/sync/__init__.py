"""Talking to the organisation's server: audit upload, revocation (the wipe order), and
the sync engine that wires them in. Above the use cases; the window and the command line
call it."""
