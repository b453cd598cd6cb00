"""closeplan-admin keys ...: key status, rotation and recovery kits (admins)."""

from __future__ import annotations

from pathlib import Path

from ..core.sync import rotation
from ..core.usecases import key_admin
from .context import EXIT_OK, Context
from .output import table
from .registry import arg, command, group

KEYS = group("keys", help="keys and recovery kits (admins)")


@command(KEYS, "status", help="show keys and how many rows use each")
def status(ctx: Context) -> int:
    with ctx.session() as s:
        st = key_admin.status(s)
    ctx.print(f"Keyring backend: {st.backend}")
    ctx.print(f"Database key:    {'present' if st.db_key_present else 'MISSING'}")
    ctx.print(f"Audit key:       {'present' if st.audit_key_present else 'MISSING'}")
    ctx.print(table([[str(v), state, f"{rows:,}", "present" if ok else "MISSING"]
                     for v, state, rows, ok in st.phi_versions],
                    ["PHI KEY", "STATE", "DEALS", "IN KEYRING"]))
    if st.pending_rows:
        ctx.print(f"{st.pending_rows:,} deals still use an older key: run "
                  "'closeplan-admin keys rotate-phi' to finish.")
    return EXIT_OK


@command(KEYS, "rotate-phi", help="new PHI key; re-encrypt every deal (resumable)")
def rotate_phi(ctx: Context) -> int:
    with ctx.session() as s:
        done = rotation.rotate_phi(s, ctx.progress("Re-encrypting PHI"))
    if done.online:
        ctx.print(f"PHI key rotated to v{done.version} with the server; every device "
                  "receives it at its next sync. Deals keep the key they were sealed with.")
    else:
        ctx.print(f"PHI key rotated to v{done.version}; {done.reencrypted:,} deals "
                  "re-encrypted.")
    return EXIT_OK


@command(KEYS, "rotate-db", help="re-encrypt the database under a new key")
def rotate_db(ctx: Context) -> int:
    with ctx.session() as s:
        key_admin.rotate_db(s)
    ctx.print("Database key rotated. Export a new recovery kit: older kits no longer open "
              "this workspace.")
    return EXIT_OK


@command(KEYS, "export-kit", help="write a recovery kit sealed with a passphrase",
         passwords="your password, then the kit passphrase", args=[arg("file", type=Path)])
def export_kit(ctx: Context) -> int:
    with ctx.session() as s:
        passphrase = ctx.passwords.ask("Kit passphrase", confirm=True)
        key_admin.export_kit(s, ctx.args.file, passphrase)
    ctx.print(f"Recovery kit written to {ctx.args.file}. Keep it and its passphrase apart, "
              "somewhere safe.")
    return EXIT_OK


@command(KEYS, "import-kit", help="restore this workspace's keys from a recovery kit",
         acting=False,
         passwords="the kit passphrase (with --reset-admin, then the new password)",
         args=[arg("file", type=Path),
               arg("--reset-admin", metavar="EMAIL",
                   help="a kit made by an older version: this administrator gets a new "
                        "password here")])
def import_kit(ctx: Context) -> int:
    data = key_admin.read_kit_file(ctx.args.file)
    passphrase = ctx.passwords.ask("Kit passphrase")
    admin = ctx.args.reset_admin
    new_password = ctx.passwords.ask(f"New password for {admin}", confirm=True) \
        if admin else None
    restored = key_admin.import_kit(ctx.path, data, passphrase, reset_admin=admin,
                                    new_password=new_password)
    ctx.print(f"Recovery kit imported: {len(restored)} key(s) restored to this keyring.")
    return EXIT_OK
