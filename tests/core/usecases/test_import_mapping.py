"""The mapped import of other CRMs' exports (issue 15): reading the file, the presets, the
value mapping of stages, the check of every row by line, the import through deal_import
(notes as timeline activities) and the mapping remembered per file layout."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from crm_exports import HUBSPOT_CSV, HUBSPOT_STAGES, PIPEDRIVE_CSV, PIPEDRIVE_STAGES
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Env, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.domain.errors import ValidationError
from closeplan_desktop.core.usecases import deal_list, timeline
from closeplan_desktop.core.usecases.importing import cells, check, layouts, mapping, source
from closeplan_desktop.core.usecases.importing.mapping import Plan


def counts(env: Env) -> tuple[object, ...]:
    env.ws.engine.dispose()
    return tuple(sql(env.path, f"SELECT count(*) FROM {t}")[0][0] for t in
                 ("deals", "access_logs", "outbox", "deal_activities", "deal_history",
                  "security_events"))


# ---- reading the file ------------------------------------------------------------------


def test_reads_bom_and_sniffs_the_delimiter() -> None:
    hub = source.read(HUBSPOT_CSV)
    assert hub.delimiter == "," and hub.header[0] == "Record ID"  # the BOM is gone
    assert hub.lines == [2, 3, 4, 5] and len(hub.preview(2)) == 2
    pipe = source.read(PIPEDRIVE_CSV)
    assert pipe.delimiter == ";" and pipe.header[1] == "Deal - Title"
    tabbed = source.read(b"title\tstatus\tvalue\r\nA\tACTIVE\t1\r\n")
    assert tabbed.delimiter == "\t" and tabbed.rows == [["A", "ACTIVE", "1"]]


def test_line_numbers_count_quoted_newlines_and_skip_blank_lines() -> None:
    table = source.read(b'title,status,value\r\n"two\r\nlines",ACTIVE,1\r\n\r\nB,DRAFT,2\r\n')
    assert table.lines == [2, 5]


@pytest.mark.parametrize("data,fragment", [
    (b"", "The CSV file is empty"),
    (b"  \r\n\r\n", "The CSV file is empty"),
    (b"title,status,value\r\n", "a header but no deals"),
    ("title,status,value\r\nCafé,ACTIVE,1\r\n".encode("cp1252"),
     "Line 2: the file is not UTF-8 text"),
    ("title,value\r\nA,1\r\n".encode("utf-16"), "UTF-16"),
    (b"title,status,value\r\nA,ACTIVE\r\n", "Line 2: expected 3 fields, found 2"),
    (b"title,Title,value\r\nA,B,1\r\n", "names the column 'Title' twice"),
    (b"title,,value\r\nA,B,1\r\n", "Column 2 of the header has no name"),
    (b'title,status,value\r\n"open,ACTIVE,1\r\n', "malformed"),
])
def test_unreadable_files_get_a_clear_message(data: bytes, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        source.read(data)
    assert fragment in str(info.value)
    assert "save it as" in str(info.value) or "UTF" not in fragment


# ---- cells -------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("12,500.00", "12500.00"), ("$12,500", "12500.00"), ("12500", "12500.00"),
    ("900.5", "900.50"), ("", "0.00")])
def test_amount_shapes(text: str, expected: str) -> None:
    assert cells.amount(text)[0] == Decimal(expected)


def test_an_amount_that_is_not_a_number_says_so() -> None:
    with pytest.raises(ValidationError, match="'12k' is not an amount"):
        cells.amount("12k")


@pytest.mark.parametrize("text,order,expected", [
    ("2026-03-31", cells.MONTH_FIRST, date(2026, 3, 31)),
    ("2026-03-31 00:00", cells.MONTH_FIRST, date(2026, 3, 31)),
    ("2026-03-31T10:15:00Z", cells.MONTH_FIRST, date(2026, 3, 31)),
    ("03/31/2026", cells.MONTH_FIRST, date(2026, 3, 31)),
    ("04/03/2026", cells.MONTH_FIRST, date(2026, 4, 3)),
    ("04/03/2026", cells.DAY_FIRST, date(2026, 3, 4)),
    ("", cells.MONTH_FIRST, None)])
def test_close_date_shapes(text: str, order: str, expected: date | None) -> None:
    assert cells.close_date(text, order) == expected


def test_slashed_dates_are_month_first_unless_one_can_only_be_day_first() -> None:
    assert cells.slash_order(["04/03/2026", "03/31/2026"]) == cells.MONTH_FIRST
    assert cells.slash_order(["04/03/2026", "31/03/2026"]) == cells.DAY_FIRST
    with pytest.raises(ValidationError, match="month first"):
        cells.slash_order(["03/31/2026", "31/03/2026"])
    with pytest.raises(ValidationError, match="not a date"):
        cells.close_date("31 March")


def test_probability_rule() -> None:
    assert cells.fractions(["0.4", "1", "", "25%"]) is True
    assert cells.fractions(["40", "1"]) is False
    assert cells.probability("0.4", True) == 40
    assert cells.probability("40", False) == 40
    assert cells.probability("40%", True) == 40  # a percent sign is always a percent
    assert cells.probability("", False) is None
    with pytest.raises(ValidationError, match=r"within 0\.\.100"):
        cells.probability("140", False)
    with pytest.raises(ValidationError, match="not a number"):
        cells.probability("likely", False)


# ---- presets and plans -------------------------------------------------------------------


def test_presets_recognise_hubspot_and_pipedrive_headers() -> None:
    hub, pipe = source.read(HUBSPOT_CSV), source.read(PIPEDRIVE_CSV)
    assert mapping.detect(hub.header) == mapping.HUBSPOT
    assert mapping.detect(pipe.header) == mapping.PIPEDRIVE
    assert mapping.detect(("title", "status", "value")) == mapping.CLOSEPLAN
    assert mapping.detect(("Name", "Stage")) == ""
    plan = mapping.propose(hub.header, mapping.HUBSPOT)
    assert plan.columns_for(mapping.TITLE) == ["Deal Name"]
    assert plan.columns_for(mapping.OWNER) == ["Deal owner"]
    assert plan.columns["Patient MRN"] == mapping.IGNORE  # PHI is never guessed
    plan = mapping.propose(pipe.header, mapping.PIPEDRIVE)
    assert plan.columns_for(mapping.STATUS) == ["Deal - Status", "Deal - Stage"]
    assert plan.columns_for(mapping.CLOSE_DATE) == ["Deal - Expected close date"]


def test_known_stage_values_are_proposed_and_the_rest_left_to_the_user() -> None:
    assert mapping.known_stage("closedwon") == DealStatus.CLOSED_WON
    assert mapping.known_stage("Closed Lost") == DealStatus.CLOSED_LOST
    assert mapping.known_stage("appointmentscheduled") == DealStatus.ACTIVE
    assert mapping.known_stage("won / Negotiations Started") == DealStatus.CLOSED_WON
    assert mapping.known_stage("open / Qualified") is None
    assert mapping.known_stage("pilotstage") is None


def test_map_and_stage_options() -> None:
    header = ("Name", "Stage", "Worth", "Patient")
    plan = mapping.with_overrides(Plan({h: mapping.IGNORE for h in header}), header,
                                  ["name=title", "Stage=stage", "Worth=amount",
                                   "Patient=phi_patient_name"], ["Won it=closed won"])
    assert plan.columns == {"Name": "title", "Stage": "status", "Worth": "value",
                            "Patient": "phi_patient_name"}
    assert plan.stages == {"Won it": DealStatus.CLOSED_WON}
    with pytest.raises(ValidationError, match="does not have"):
        mapping.with_overrides(plan, header, ["Nope=title"], [])
    with pytest.raises(ValidationError, match="Unknown target 'salary'"):
        mapping.with_overrides(plan, header, ["Worth=salary"], [])
    with pytest.raises(ValidationError, match="NAME=VALUE"):
        mapping.with_overrides(plan, header, ["Worth"], [])
    assert mapping.phi_target("Patient MRN") == "phi_patient_mrn"
    assert mapping.phi_target("1st visit") == "phi_f_1st_visit"


def test_a_plan_must_map_title_status_and_value_once() -> None:
    plan = Plan({"A": "title", "B": "title", "C": "ignore"})
    problems = mapping.plan_problems(plan)
    assert "Map a column to Stage / status." in problems
    assert "Map a column to Amount (value)." in problems
    assert any("'A', 'B' are all mapped to Title" in p for p in problems)


# ---- check and import, end to end --------------------------------------------------------


def test_hubspot_export_end_to_end(env: Env) -> None:
    table = source.read(HUBSPOT_CSV)
    plan = layouts.plan_for(env.admin, table.header)
    assert plan.source == mapping.HUBSPOT
    plan.columns["Patient MRN"] = "phi_mrn"
    plan = _staged(env, table, plan, HUBSPOT_STAGES)
    assert check.UNSUPPORTED == ()  # owner, close date and probability go through
    result = check.check(env.admin, table, plan)
    assert result.ok, result.report()
    assert result.report().startswith("4 deals ready to import.")
    assert [n.text() for n in result.notes] == []
    assert check.import_checked(env.admin, table, plan, result) == 4
    listed = {d.title: d for d in deal_list.list_deals(env.admin, deal_list.DealQuery(),
                                                          limit=10)}
    assert {t: (d.status, d.value, d.owner_id, d.expected_close_date, d.probability)
            for t, d in listed.items()} == {
        "CT scanner lease – Harbor Heart": (DealStatus.ACTIVE, Decimal("12500.00"),
                                            env.user.user_id, date(2026, 3, 31), 40),
        "Ultrasound carts": (DealStatus.CLOSED_WON, Decimal("12500.00"), env.admin.user_id,
                             date(2026, 3, 31), 100),
        "PACS upgrade": (DealStatus.CLOSED_LOST, Decimal("12500.00"), env.admin.user_id,
                         date(2026, 4, 15), 0),
        "Infusion pumps (pilot)": (DealStatus.DRAFT, Decimal("900.50"), env.admin.user_id,
                                   None, None)}
    # The owner's own deal: its PHI is theirs to reveal without break-glass.
    from closeplan_desktop.core.usecases import deals
    assert deals.reveal_phi(env.user, listed["CT scanner lease – Harbor Heart"].id) == {
        "mrn": "MRN-4471"}
    assert listed["CT scanner lease – Harbor Heart"].has_phi
    assert not listed["PACS upgrade"].has_phi
    entries = timeline.timeline(env.admin, listed["PACS upgrade"].id)
    assert [(e.activity.kind.value, e.activity.body) for e in entries if e.activity] == [
        ("NOTE", "Lost to a competitor, on price")]
    assert [e.history.op for e in entries if e.history] == ["create"]
    env.ws.engine.dispose()
    # The notes sync: their outbox rows follow their deals'.
    order = sql(env.path, "SELECT entity FROM outbox ORDER BY id")
    assert [e for (e,) in order].index("deal_activities") > 0
    assert sql(env.path, "SELECT count(*) FROM outbox WHERE entity='deal_activities'") == [(2,)]


def _staged(env: Env, table: source.SourceTable, plan: Plan, stages: dict[str, str]) -> Plan:
    values = [v.value for v in check.stage_values(table, plan)]
    plan.stages = mapping.propose_stages(values, plan.stages)
    plan.stages.update({k: DealStatus(v) for k, v in stages.items()})
    for column, target in plan.columns.items():
        if target in check.UNSUPPORTED:
            plan.columns[column] = mapping.IGNORE
    return plan


def test_pipedrive_export_end_to_end_and_its_stage_values(env: Env) -> None:
    table = source.read(PIPEDRIVE_CSV)
    plan = layouts.plan_for(env.admin, table.header)
    assert plan.source == mapping.PIPEDRIVE
    values = check.stage_values(table, plan)
    assert [(v.value, v.count, v.first_line) for v in values] == [
        ("lost / Proposal Made", 1, 4), ("open / Lead In", 1, 5),
        ("open / Qualified", 1, 2), ("won / Negotiations Started", 1, 3)]
    plan = _staged(env, table, plan, PIPEDRIVE_STAGES)
    result = check.check(env.admin, table, plan)
    assert result.ok, result.report()
    assert check.import_checked(env.admin, table, plan, result) == 4
    got = {d.title: (d.status, d.value, d.owner_id, d.expected_close_date, d.probability)
           for d in deal_list.list_deals(env.admin, deal_list.DealQuery(), limit=10)}
    bob, ada = env.user.user_id, env.admin.user_id
    assert got == {
        "MRI service contract": (DealStatus.ACTIVE, Decimal("48000.00"), bob,
                                 date(2026, 6, 30), 40),
        "Sterilizer refurbishment": (DealStatus.CLOSED_WON, Decimal("7250.00"), ada,
                                     date(2026, 2, 27), 100),
        "Lab analyzers": (DealStatus.CLOSED_LOST, Decimal("0.00"), ada, date(2026, 1, 15), 0),
        "Telemetry monitors": (DealStatus.DRAFT, Decimal("31000.00"), bob, None, 25)}
    mine = deal_list.list_deals(env.user, deal_list.DealQuery(owner_id=bob), limit=10)
    assert {d.title for d in mine} == {"MRI service contract", "Telemetry monitors"}


def test_every_problem_is_reported_by_line_and_nothing_is_written(env: Env) -> None:
    data = (b"Deal Name,Deal Stage,Amount,Deal Description\r\n"
            b"A,closedwon,12k,\r\n"            # 2: not a number
            b",closedwon,5,\r\n"                # 3: no title
            b"C,pilotstage,5,\r\n"              # 4: unmapped stage
            b"D,trialstage,5,\r\n"              # 5: another unmapped stage
            b"E,pilotstage,-1,\r\n"             # 6: stage and negative amount
            b"F,closedlost,,note\r\n"           # 7: fine (no amount: a note)
            )
    table = source.read(data)
    plan = _staged(env, table, layouts.plan_for(env.admin, table.header), {})
    before = counts(env)
    result = check.check(env.admin, table, plan)
    assert not result.ok and result.rows == []
    assert [p.text() for p in result.problems] == [
        "Line 2: Amount must be an amount such as 1250.00. ('12k' is not an amount such as "
        "12,500.00)",
        "Line 3: Title is required.",
        "Lines 4, 6: Stage 'pilotstage' is not mapped to a status; choose one for it.",
        "Line 5: Stage 'trialstage' is not mapped to a status; choose one for it.",
        "Line 6: Amount cannot be negative. ('-1' is not an amount such as 12,500.00)"]
    assert [n.text() for n in result.notes] == ["Line 7: No amount: imported as 0.00."]
    with pytest.raises(ValidationError, match="Fix the problems"):
        check.import_checked(env.admin, table, plan, result)
    assert counts(env) == before


def test_unknown_owners_and_stages_are_reported_by_line_with_nothing_written(
        env: Env) -> None:
    from closeplan_desktop.core.usecases import users

    gone = "gina@acme-health.example"
    users.add_user(env.admin, gone, "Gina", "Gone", "USER", "a long enough password 1")
    users.deactivate(env.admin, users.find_user_id(env.admin, gone))
    data = "\r\n".join([
        "Deal - Title;Deal - Value;Deal - Status;Deal - Stage;Deal - Owner;"
        "Deal - Expected close date;Deal - Probability",
        "A;1;won;Closing;nobody@acme-health.example;2026-01-31;100",     # 2: unknown owner
        f"B;1;open;Pilot;{gone};2026-01-31;10",                          # 3: both
        "C;1;open;Pilot;BOB@ACME-HEALTH.EXAMPLE;31.01.2026;10",          # 4: stage (owner ok)
        "D;1;won;Closing;nobody@acme-health.example;2026-02-30;140",     # 5: owner, date, %
        ""]).encode()
    table = source.read(data)
    plan = layouts.plan_for(env.admin, table.header)
    plan.stages = mapping.propose_stages([v.value for v in check.stage_values(table, plan)],
                                         {})
    before = counts(env)
    result = check.check(env.admin, table, plan)
    assert [p.text() for p in result.problems] == [
        "Lines 2, 5: Owner 'nobody@acme-health.example' is not an active user of this "
        "organisation (by email or full name); add them under Users, or map the column "
        "to Ignore.",
        "Lines 3, 4: Stage 'open / Pilot' is not mapped to a status; choose one for it.",
        f"Line 3: Owner '{gone}' is not an active user of this organisation (by email or "
        "full name); add them under Users, or map the column to Ignore.",
        "Line 5: Close date '2026-02-30' is not a date such as 2026-03-31, 2026-03-31 "
        "00:00 or 03/31/2026.",
        "Line 5: Probability '140' is not within 0..100 %."]
    with pytest.raises(ValidationError):
        check.import_checked(env.admin, table, plan, result)
    assert counts(env) == before


def test_owners_named_as_crms_export_them_are_matched_by_full_name(env: Env) -> None:
    """HubSpot and Pipedrive export the owner's name: a unique full name of an active
    user (any case, spaces aside) owns the deal; a name two users share asks for the
    email; a deactivated user's name is unknown."""
    from closeplan_desktop.core.usecases import users

    for email, first in (("bob.two@acme-health.example", "Bob"),
                         ("carol@acme-health.example", "Carol")):
        users.add_user(env.admin, email, first, "Reyes" if first == "Carol" else "Sales",
                       "USER", "a long enough password 1")
    data = "\r\n".join([
        "Deal Name,Amount,Deal Stage,Deal owner",
        "A,1,closedwon,carol  REYES",      # 2: by name
        "B,1,closedwon,Bob Sales",         # 3: two Bob Sales
        "C,1,closedwon,Ada Admin",         # 4: by name
        ""]).encode()
    table = source.read(data)
    plan = layouts.plan_for(env.admin, table.header)
    plan.stages = mapping.propose_stages([v.value for v in check.stage_values(table, plan)],
                                         {})
    result = check.check(env.admin, table, plan)
    assert [p.text() for p in result.problems] == [
        "Line 3: Owner 'Bob Sales' is the name of two active users; put their email in "
        "the file instead."]
    # Without the ambiguous line, the file imports and the named users own their deals.
    table = source.read(data.replace(b"B,1,closedwon,Bob Sales\r\n", b""))
    result = check.check(env.admin, table, plan)
    assert result.ok, [p.text() for p in result.problems]
    assert check.import_checked(env.admin, table, plan, result) == 2
    owners = {d.title: d.owner_name for d in deal_list.list_deals(env.admin, limit=10)}
    assert owners == {"A": "Carol Reyes", "C": "Ada Admin"}


def test_unsupported_or_incomplete_plans_are_refused_before_any_row(env: Env) -> None:
    table = source.read(b"Name,Worth\r\nA,1\r\n")
    plan = layouts.plan_for(env.admin, table.header)
    result = check.check(env.admin, table, plan)
    assert [p.text() for p in result.problems] == [
        "Map a column to Title.", "Map a column to Stage / status.",
        "Map a column to Amount (value)."]


def test_phi_cells_never_appear_in_problems(env: Env) -> None:
    table = source.read(b"Deal Name,Deal Stage,Amount,Patient\r\n"
                         b"A,closedwon,1,Zelda Quintero\x07Marsh\r\n")
    plan = _staged(env, table, layouts.plan_for(env.admin, table.header), {})
    plan.columns["Patient"] = "phi_patient_name"
    result = check.check(env.admin, table, plan)
    assert not result.ok and "Zelda" not in result.report()
    assert "PHI field patient_name contains control" in result.report()


def test_the_mapping_is_remembered_per_file_layout(env: Env) -> None:
    table = source.read(PIPEDRIVE_CSV)
    plan = _staged(env, table, layouts.plan_for(env.admin, table.header), PIPEDRIVE_STAGES)
    plan.columns["Deal - Pipeline"] = "note"  # a choice the preset would not make
    result = check.check(env.admin, table, plan)
    check.import_checked(env.admin, table, plan, result)
    # A second export with the same columns (another order, other case) opens with it.
    second = source.read("\r\n".join([
        "deal - title;Deal - ID;Deal - Value;Deal - Currency;Deal - Status;Deal - Stage;"
        "Deal - Owner;Deal - Expected close date;Deal - Probability;Deal - Pipeline",
        "Bed monitors;30;5;USD;open;Qualified;;;;Clinics", ""]).encode())
    again = layouts.plan_for(env.admin, second.header)
    assert again.source == mapping.REMEMBERED
    assert again.columns["Deal - Pipeline"] == "note"
    assert again.columns["deal - title"] == "title"
    assert again.stages["open / Qualified"] == DealStatus.ACTIVE
    result = check.check(env.admin, second, again)
    assert result.ok, result.report()
    # A named preset keeps the remembered stages but not the columns.
    named = layouts.plan_for(env.admin, second.header, mapping.PIPEDRIVE)
    assert named.source == mapping.PIPEDRIVE and named.columns["Deal - Pipeline"] == "ignore"
    assert named.stages["open / Qualified"] == DealStatus.ACTIVE
    # Another layout is not affected; and the row holds no cell of the file.
    assert layouts.recall(env.admin, ("title", "status", "value")) is None
    env.ws.engine.dispose()
    stored = sql(env.path, "SELECT value FROM workspace_meta WHERE key LIKE 'import_layout:%'")
    assert len(stored) == 1 and "MRI" not in stored[0][0]
    assert json.loads(stored[0][0])["columns"]["Deal - Pipeline"] == "note"


# ---- hostile input -----------------------------------------------------------------------

HEADERS = b"Deal Name;Deal Stage;Amount;Close Date;Deal probability;Patient\r\n"


@given(body=st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: HEADERS + t.encode()),
    st.lists(st.lists(st.text(max_size=12), min_size=6, max_size=6), max_size=5).map(
        lambda rows: HEADERS + "\r\n".join(";".join(r) for r in rows).encode("utf-8",
                                                                              "replace"))))
@settings(max_examples=80, deadline=None, derandomize=True)
def test_hostile_files_end_in_a_clear_message_or_a_clean_check(body: bytes) -> None:
    """Any bytes: reading ends in one clear line or a table; the check of a table ends
    in problems by line or rows in deal_import's shape (no session needed without an
    owner column)."""
    try:
        table = source.read(body)
    except ValidationError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    plan = mapping.propose(table.header, mapping.detect(table.header) or mapping.CLOSEPLAN)
    if "Patient" in plan.columns:
        plan.columns["Patient"] = "phi_patient"
    plan.stages = {v.value: DealStatus.ACTIVE for v in check.stage_values(table, plan)}
    result = check.check(None, table, plan)  # type: ignore[arg-type]
    for problem in result.problems:
        assert "\n" not in problem.text()
    assert result.ok == bool(result.rows) or not table.rows
