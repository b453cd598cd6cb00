"""closeplan-admin as admins and scripts use it: exit codes, messages, and what the files
on disk hold afterwards."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ADMIN_EMAIL, ADMIN_PASSWORD, Result, run_cli, sql, use_system_policy

from closeplan_desktop.core.store import layout

PW = ADMIN_PASSWORD + "\n"
TITLE = "Quarzwerk Lithotripter Upgrade – Vandermeer Clinic"
PHI = {"patient_name": "Oksana Threlkeld-Ybarra", "mrn": "MRN-93817265",
       "diagnosis": "N20.0 Calculus of kidney"}
USER2 = "rita.sales@acme-health.example"
USER2_PW = "rita's long password"


def as_admin(ws: Path, *args: object, stdin: str = PW) -> Result:
    return run_cli(*args, "--workspace", ws, "--as", ADMIN_EMAIL, "--password-stdin",
                   stdin=stdin)


def add_deal(ws: Path, title: str = TITLE, phi: dict[str, str] | None = None,
             value: str = "125000.00") -> str:
    args: list[object] = ["deals", "add", "--title", title, "--status", "ACTIVE",
                          "--value", value]
    stdin = PW
    if phi:
        args += ["--phi", "-"]  # PHI comes on stdin, after the password (finding 9)
        stdin += json.dumps(phi) + "\n"
    r = as_admin(ws, *args, stdin=stdin)
    assert r.code == 0, r.err
    return r.out.strip()


def state(ws: Path) -> list[object]:
    """The data of the workspace (not its sign-in bookkeeping)."""
    out: list[object] = []
    for q in ("SELECT * FROM tenants", "SELECT id, email, first_name, last_name, role, "
              "tenant_id, deactivated_at, password FROM users", "SELECT * FROM deals",
              "SELECT * FROM access_logs", "SELECT * FROM outbox", "SELECT * FROM phi_keys"):
        out.append(sql(ws, q + " ORDER BY 1"))
    return out


def phi_rows(ws: Path, deal_id: str) -> list[tuple[object, ...]]:
    return sql(ws, "SELECT success FROM access_logs WHERE deal_id=? AND action='PHI_ACCESS' "
                   "AND access_type='READ' ORDER BY seq", (deal_id,))


def test_files_hold_no_plaintext_and_reveals_are_logged(cli_ws: Path, tmp_path: Path) -> None:
    deal_id = add_deal(cli_ws, phi=PHI)
    for n in (1, 2):
        r = as_admin(cli_ws, "deals", "show", deal_id, "--phi")
        assert r.code == 0 and PHI["mrn"] in r.out
        assert phi_rows(cli_ws, deal_id) == [(1,)] * n
    r = as_admin(cli_ws, "deals", "show", deal_id)
    assert PHI["mrn"] not in r.out and "use --phi" in r.out
    assert phi_rows(cli_ws, deal_id) == [(1,), (1,)]
    for fmt in ("csv", "fhir"):
        r = as_admin(cli_ws, "audit", "export", "--format", fmt, "--output",
                     tmp_path / f"audit.{fmt}")
        assert r.code == 0, r.err
    secrets = [TITLE, ADMIN_EMAIL, "Acme Health", *PHI.values(), "Threlkeld"]
    needles = []
    for s in secrets:
        needles += [s.encode(), s.encode("utf-16-le"), base64.b64encode(s.encode())]
    files = [f for f in cli_ws.rglob("*") if f.is_file()]
    assert any(f.name == layout.DB_FILE for f in files)
    for f in files:
        data = f.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} found in {f.name}"
    assert b"SQLite format 3" not in (cli_ws / layout.DB_FILE).read_bytes()[:16]


def test_refused_reveal_logs_one_failed_row(cli_ws: Path) -> None:
    deal_id = add_deal(cli_ws, phi=PHI)
    r = as_admin(cli_ws, "user", "add", USER2, "--first-name", "Rita", "--last-name", "Sales",
                 stdin=f"{ADMIN_PASSWORD}\n{USER2_PW}\n")
    assert r.code == 0, r.err
    r = run_cli("deals", "show", deal_id, "--phi", "--workspace", cli_ws, "--as", USER2,
                "--password-stdin", stdin=USER2_PW + "\n")
    assert r.code == 1 and "reason" in r.err and PHI["mrn"] not in r.out
    assert phi_rows(cli_ws, deal_id) == [(0,)]
    r = run_cli("deals", "show", deal_id, "--phi", "--reason", "-",
                "--workspace", cli_ws, "--as", USER2, "--password-stdin",
                stdin=USER2_PW + "\nOn-call escalation\n")
    assert r.code == 0 and PHI["mrn"] in r.out
    assert phi_rows(cli_ws, deal_id) == [(0,), (1,)]


def test_tampering_makes_verify_fail_and_name_the_row(cli_ws: Path) -> None:
    deal_id = add_deal(cli_ws, phi=PHI)
    as_admin(cli_ws, "deals", "show", deal_id, "--phi")
    r = as_admin(cli_ws, "audit", "verify")
    assert r.code == 0 and "intact" in r.out
    rid, seq = sql(cli_ws, "SELECT id, seq FROM access_logs ORDER BY seq DESC LIMIT 1")[0]
    sql(cli_ws, "DROP TRIGGER access_logs_no_update")
    sql(cli_ws, "UPDATE access_logs SET success=0 WHERE id=?", (rid,))
    r = as_admin(cli_ws, "audit", "verify")
    assert r.code == 1 and f"seq {seq} (id {rid})" in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = run_cli("doctor", "--workspace", cli_ws)
    assert r.code == 1 and "audit chain" in r.out and rid in r.out


BAD_ADDS = [
    (["--title", ""], "Title is required"),
    (["--title", "x" * 201], "too long"),
    (["--title", "tab\x1b[31mred"], "control"),
    (["--value", "-1"], "negative"),
    (["--value", "12.345"], "two decimal places"),
    (["--value", "NaN"], "finite"),
    (["--value", "Infinity"], "finite"),
    (["--value", "1e999"], "too large"),
    (["--value", "abc"], "amount"),
    (["--value", "'; DROP TABLE deals; --"], "amount"),
    (["--value", "=1+1"], "amount"),
    (["--phi", '{"a": {"b": NaN}}'], "finite"),
    (["--phi", "[" * 5000], "not valid JSON"),
    (["--phi", "{"], "not valid JSON"),
    (["--phi", '{"mrn": 1e999}'], "finite"),
    (["--phi", '"just a string"'], "object"),
]


@pytest.mark.parametrize("override,fragment", BAD_ADDS)
def test_bad_deal_input_exits_1_with_one_line_and_changes_nothing(
        cli_ws: Path, override: list[str], fragment: str) -> None:
    add_deal(cli_ws)
    before = state(cli_ws)
    base = {"--title": "Fine", "--status": "ACTIVE", "--value": "1.00"}
    args = dict(base)
    for k, v in zip(override[::2], override[1::2], strict=True):
        args[k] = v
    flat: list[object] = ["deals", "add"]
    stdin = PW
    for k, v in args.items():
        if k == "--phi":  # PHI comes on stdin, never in argv (finding 9)
            v, stdin = "-", stdin + v + "\n"
        flat += [k, v]
    r = as_admin(cli_ws, *flat, stdin=stdin)
    assert r.code == 1, r.out
    assert fragment in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert state(cli_ws) == before


@pytest.mark.parametrize("args,stdin,code,fragment", [
    (["deals", "show", "c" + "0" * 24], PW, 1, "No such deal"),
    (["deals", "show", "../../etc/passwd"], PW, 1, "No such deal"),
    (["deals", "delete", "' OR 1=1 --"], PW, 1, "No such deal"),
    (["deals", "list", "--limit", "0"], PW, 1, "limit"),
    (["deals", "list", "--limit", "many"], PW, 2, ""),
    (["deals", "list", "--status", "WON"], PW, 2, ""),
    (["deals", "list"], "wrong password!!\n", 1, "Email or password is incorrect"),
    (["deals", "list"], "", 1, "Standard input ended"),
    (["deals", "list"], "x" * 100 + "\n", 1, "72 bytes"),
    (["user", "set-role", "nobody@acme-health.example", "USER"], PW, 1, "No user"),
    (["user", "set-role", ADMIN_EMAIL, "USER"], PW, 1, "last active administrator"),
    (["user", "deactivate", ADMIN_EMAIL], PW, 1, "your own account"),
    (["user", "add", "bad-email", "--first-name", "A", "--last-name", "B"],
     PW + "long enough password\n", 1, "not a valid address"),
    (["user", "add", "new@acme-health.example", "--first-name", "A", "--last-name", "B"],
     PW + "short\n", 1, "too short"),
    (["audit", "export", "--format", "csv", "--output", "/nonexistent/dir/a.csv"], PW, 1,
     "does not exist"),
    (["audit", "export", "--format", "csv", "--output", "a.csv", "--since", "yesterday"], PW,
     1, "ISO 8601"),
    (["audit", "export", "--format", "xml", "--output", "a.xml"], PW, 2, ""),
    (["keys", "export-kit", "/nonexistent/kit.json"], PW + "long kit passphrase\n", 1,
     "existing folder"),
])
def test_bad_commands_exit_with_a_clear_line(cli_ws: Path, args: list[str], stdin: str,
                                             code: int, fragment: str) -> None:
    add_deal(cli_ws)
    before = state(cli_ws)
    r = as_admin(cli_ws, *args, stdin=stdin)
    assert r.code == code, (r.out, r.err)
    if code == 1:
        assert fragment in r.err
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert state(cli_ws) == before


def test_usage_errors_exit_2() -> None:
    assert run_cli().code == 2
    assert run_cli("frobnicate").code == 2
    assert run_cli("deals", "list").code == 2  # --as is required
    assert run_cli("--help").code == 0


CSV_OK = (
    "title,status,value,phi_patient_name,phi_mrn\r\n"
    "CT scanner lease – Harbor Heart,ACTIVE,250000.00,Imelda Wexford,MRN-1\r\n"
    '"=HYPERLINK(""http://x"")",DRAFT,\"1,000.50\",,\r\n'
    "Ultrasound carts,closed won,99.99,,\r\n"
)


def test_deals_import_with_phi_columns(cli_ws: Path, tmp_path: Path) -> None:
    f = tmp_path / "deals.csv"
    f.write_text(CSV_OK, encoding="utf-8", newline="")
    r = as_admin(cli_ws, "deals", "import", f)
    assert r.code == 0 and "Imported 3 deals" in r.out, r.err
    r = as_admin(cli_ws, "deals", "list", "--json", "--sort", "title", "--asc")
    listed = [json.loads(line) for line in r.out.splitlines()]
    assert [d["value"] for d in listed] == ["1000.50", "250000.00", "99.99"]
    assert [d["has_phi"] for d in listed] == [False, True, False]
    assert "Imelda" not in r.out
    ct = next(d for d in listed if d["title"].startswith("CT"))
    r = as_admin(cli_ws, "deals", "show", ct["id"], "--phi")
    assert "patient_name: Imelda Wexford" in r.out


@pytest.mark.parametrize("content,fragment", [
    (b"", "empty"),
    (b"title,status\r\nA,ACTIVE\r\n", "lacks the column(s) value"),
    (b"title,status,value,ssn\r\nA,ACTIVE,1,x\r\n", "Unknown CSV column 'ssn'"),
    (b"title,status,value\r\nA,ACTIVE,1\r\nB,NOPE,1\r\n", "Line 3: Status"),
    (b"title,status,value\r\nA,ACTIVE\r\n", "Line 2: expected 3 fields"),
    (b"title,status,value\r\n\"unterminated,ACTIVE,1\r\n", "malformed"),
    (b"title,status,value\r\nCaf\xe9,ACTIVE,1\r\n", "not UTF-8"),
    (b"\xff\xfet\x00i\x00t\x00l\x00e\x00", "not UTF-8"),
    (b"title,status,value\r\nA,ACTIVE,-3\r\n", "Line 2: Value cannot be negative"),
    (b"title,status,value\r\nA\x00,ACTIVE,1\r\n", "NUL"),
    (b"title,status,value,phi_mrn\r\nA,ACTIVE,1," + b"x" * 5000 + b"\r\n", "too long"),
    (b"title,status,value\r\n", "no deals"),
])
def test_broken_csv_imports_nothing(cli_ws: Path, tmp_path: Path, content: bytes,
                                    fragment: str) -> None:
    add_deal(cli_ws)
    before = state(cli_ws)
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    r = as_admin(cli_ws, "deals", "import", f)
    assert r.code == 1 and fragment in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert state(cli_ws) == before


def test_import_of_a_folder_or_missing_file(cli_ws: Path, tmp_path: Path) -> None:
    assert "is a folder" in as_admin(cli_ws, "deals", "import", tmp_path).err
    assert "does not exist" in as_admin(cli_ws, "deals", "import", tmp_path / "no.csv").err


def test_user_unlock_lifts_a_lockout_and_is_logged(cli_ws: Path) -> None:
    """Issue 13, finding 10: an admin lifts a lockout from the command line."""
    r = as_admin(cli_ws, "user", "add", USER2, "--first-name", "Rita", "--last-name", "Sales",
                 stdin=f"{ADMIN_PASSWORD}\n{USER2_PW}\n")
    assert r.code == 0

    def sign_in(password: str) -> Result:
        return run_cli("deals", "list", "--workspace", cli_ws, "--as", USER2,
                       "--password-stdin", stdin=password + "\n")

    for _ in range(6):  # past the policy's lockout threshold (5)
        sign_in("not her password at all")
    locked = sign_in(USER2_PW)
    assert locked.code == 1 and "locked" in locked.err
    listed = as_admin(cli_ws, "user", "list").out
    assert next(ln for ln in listed.splitlines() if USER2 in ln).count("locked out") == 1
    r = as_admin(cli_ws, "user", "unlock", USER2)
    assert r.code == 0 and "can sign in again" in r.out
    assert sign_in(USER2_PW).code == 0
    assert sql(cli_ws, "SELECT count(*) FROM security_events WHERE type='USER_UNLOCKED'") \
        == [(1,)]
    missing = as_admin(cli_ws, "user", "unlock", "nobody@acme-health.example")
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1


def test_user_commands_round_trip(cli_ws: Path, tmp_path: Path) -> None:
    r = as_admin(cli_ws, "user", "add", USER2, "--first-name", "Rita", "--last-name", "Sales",
                 stdin=f"{ADMIN_PASSWORD}\n{USER2_PW}\n")
    assert r.code == 0
    assert as_admin(cli_ws, "user", "set-role", USER2, "ADMIN").code == 0
    assert as_admin(cli_ws, "user", "deactivate", USER2).code == 0
    listing = as_admin(cli_ws, "user", "list").out
    assert "deactivated" in listing and "ADMIN" in listing
    assert run_cli("deals", "list", "--workspace", cli_ws, "--as", USER2, "--password-stdin",
                   stdin=USER2_PW + "\n").code == 1
    assert as_admin(cli_ws, "user", "reactivate", USER2).code == 0
    r = as_admin(cli_ws, "user", "reset-password", USER2,
                 stdin=f"{ADMIN_PASSWORD}\nrita new password 2\n")
    assert r.code == 0
    assert run_cli("deals", "list", "--workspace", cli_ws, "--as", USER2, "--password-stdin",
                   stdin="rita new password 2\n").code == 0
    f = tmp_path / "users.jsonl"
    f.write_text(json.dumps({"email": "srv@acme-health.example", "firstName": "Sam",
                             "lastName": "Server", "role": "USER",
                             "password": "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx."
                                         "jNN1ILEf7h0i"}) + "\n")
    assert as_admin(cli_ws, "user", "import", f).code == 0
    assert "srv@acme-health.example" in as_admin(cli_ws, "user", "list").out
    f.write_text('{"email": "x@acme-health.example"\n')
    r = as_admin(cli_ws, "user", "import", f)
    assert r.code == 1 and "Line 1" in r.err


def test_deals_delete_restore_and_list_deleted(cli_ws: Path) -> None:
    deal_id = add_deal(cli_ws)
    assert as_admin(cli_ws, "deals", "delete", deal_id).code == 0
    assert deal_id not in as_admin(cli_ws, "deals", "list").out
    assert deal_id in as_admin(cli_ws, "deals", "list", "--deleted").out
    assert as_admin(cli_ws, "deals", "restore", deal_id).code == 0
    assert deal_id in as_admin(cli_ws, "deals", "list", "--search", "lithotripter").out


def test_keys_commands_and_kit_via_cli(cli_ws: Path, tmp_path: Path) -> None:
    deal_id = add_deal(cli_ws, phi=PHI)
    assert as_admin(cli_ws, "keys", "rotate-phi").code == 0
    st = as_admin(cli_ws, "keys", "status").out
    assert "RETIRED" in st and "ACTIVE" in st
    assert as_admin(cli_ws, "keys", "rotate-db").code == 0
    kit = tmp_path / "kit.json"
    r = as_admin(cli_ws, "keys", "export-kit", kit,
                 stdin=f"{ADMIN_PASSWORD}\nkit passphrase here\n")
    assert r.code == 0, r.err
    from closeplan_desktop.core.security.keyring_store import DB_SLOT, KeyringStore

    store = KeyringStore(layout.read_meta(cli_ws)["workspace_id"])
    store.delete(DB_SLOT)
    r = run_cli("doctor", "--workspace", cli_ws)
    assert r.code == 1 and "not in this keyring" in r.out
    r = run_cli("keys", "import-kit", kit, "--workspace", cli_ws, "--password-stdin",
                stdin="wrong passphrase!!\n")
    assert r.code == 1 and "passphrase is wrong" in r.err
    r = run_cli("keys", "import-kit", kit, "--workspace", cli_ws, "--password-stdin",
                stdin="kit passphrase here\n")
    assert r.code == 0, r.err
    assert run_cli("doctor", "--workspace", cli_ws).code == 0
    assert PHI["mrn"] in as_admin(cli_ws, "deals", "show", deal_id, "--phi").out


def test_demo_creates_then_finds(tmp_path: Path) -> None:
    ws = tmp_path / "demo"
    r = run_cli("demo", "--workspace", ws, "--deals", "120")
    assert r.code == 0 and "Created" in r.out and "Riverside-Demo-2026" in r.out
    r = run_cli("demo", "--workspace", ws)
    assert r.code == 0 and "Found" in r.out and "120 deals" in r.out
    n_phi = sql(ws, "SELECT count(*) FROM deals WHERE phi IS NOT NULL")[0][0]
    assert 20 <= n_phi <= 60
    reveals = sql(ws, "SELECT count(*) FROM access_logs WHERE action='PHI_ACCESS'")[0][0]
    assert reveals >= 1
    assert run_cli("doctor", "--workspace", ws).code == 0


def test_demo_hint_is_left_out_when_the_keyring_ends_with_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "demo"
    r = run_cli("demo", "--workspace", ws, "--deals", "20")
    assert r.code == 0 and f"Try: closeplan-admin deals list --workspace {ws}" in r.out
    monkeypatch.setenv("CLOSEPLAN_EPHEMERAL_KEYRING", "1")  # packaging/run-demo.sh, headless
    r = run_cli("demo", "--workspace", ws)
    assert r.code == 0 and "Try:" not in r.out and "Found" in r.out


def test_the_xcb_plugin_libraries_all_have_a_package() -> None:
    """packaging/lib.sh names a Debian package for every library Qt's xcb plugin links."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    script = ('. packaging/lib.sh; qt="$(.venv/bin/python -c \'import PySide6, pathlib; '
              'print(pathlib.Path(PySide6.__file__).parent / "Qt")\')"; '
              'for lib in $(ldd "$qt/plugins/platforms/libqxcb.so" '
              '"$qt/lib/libQt6XcbQpa.so.6" | awk \'$1 ~ /^lib/ {print $1}\' | sort -u); do '
              'case "$lib" in libQt6*|libicu*|libc.so*|libm.so*|libstdc++*|libgcc_s*|'
              'libpthread*|libdl.so*|libz.so*|libsystemd*|libcap*|libgcrypt*|libgpg-error*|'
              'liblz4*|liblzma*|libzstd*|libbsd*|libmd.so*|libexpat*|libbrotli*|libpcre2*'
              ') continue;; esac; '
              '[ -n "$(xcb_package "$lib")" ] || echo "$lib"; done')
    out = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True,
                         check=True).stdout
    assert out == ""


def test_bad_policy_file_is_a_clear_error(cli_ws: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "policy.json"
    p.write_text('{"idle_lock_minutes": "soon"}')
    use_system_policy(monkeypatch, p)
    r = as_admin(cli_ws, "deals", "list")
    assert r.code == 1 and "'idle_lock_minutes'" in r.err


def test_no_terminal_and_no_password_stdin(cli_ws: Path) -> None:
    r = run_cli("deals", "list", "--workspace", cli_ws, "--as", ADMIN_EMAIL)
    assert r.code == 1 and "--password-stdin" in r.err


def test_console_script_runs_as_installed(cli_ws: Path) -> None:
    exe = Path(sys.executable).parent / "closeplan-admin"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "closeplan-admin" in out.stdout
    out = subprocess.run([str(exe), "deals", "list", "--workspace", str(cli_ws), "--as",
                          ADMIN_EMAIL, "--password-stdin"], input=PW, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert "0 of 0 deals" in out.stdout


def test_user_passwd_changes_your_own_password_from_prompts_never_argv(cli_ws: Path) -> None:
    r = as_admin(cli_ws, "user", "add", USER2, "--first-name", "Rita", "--last-name", "Sales",
                 stdin=f"{ADMIN_PASSWORD}\n{USER2_PW}\n")
    assert r.code == 0

    def passwd(stdin: str) -> Result:
        return run_cli("user", "passwd", "--workspace", cli_ws, "--as", USER2,
                       "--password-stdin", stdin=stdin)

    before = state(cli_ws)
    wrong = passwd("not rita's password\nsome other long words 7\n")
    assert wrong.code == 1 and len(wrong.err.strip().splitlines()) == 1
    weak = passwd(f"{USER2_PW}\npassword12345\n")
    assert weak.code == 1 and "too weak" in weak.err and "password12345" not in weak.err
    assert state(cli_ws)[1] == before[1]  # no password changed
    done = passwd(f"{USER2_PW}\nlantern orbit walnut 93\n")
    assert done.code == 0 and "changed" in done.out
    assert "lantern" not in done.out + done.err
    assert run_cli("deals", "list", "--workspace", cli_ws, "--as", USER2, "--password-stdin",
                   stdin="lantern orbit walnut 93\n").code == 0
    assert run_cli("deals", "list", "--workspace", cli_ws, "--as", USER2, "--password-stdin",
                   stdin=USER2_PW + "\n").code == 1
    assert sql(cli_ws, "SELECT count(*) FROM security_events WHERE type='PASSWORD_CHANGED'"
               ) == [(1,)]
    # The command takes no argument of its own (no password on the command line): it asks.
    from closeplan_desktop.cli.registry import COMMANDS

    assert next(c for c in COMMANDS if c.path == ("user", "passwd")).args == ()
