"""What each column of another CRM's export means (the mapping), and what each of its
stage values is among the seed's four statuses (the value mapping).

A `Plan` maps every source column to a target: title, status (the stage; one or two
columns, as Pipedrive's status open/won/lost beside its stage name), value (the amount),
owner_email, expected_close_date, probability, note (a non-PHI NOTE activity on the
deal), a PHI field (phi_<name>), or ignore. Presets recognise a HubSpot-shaped and a
Pipedrive-shaped export by their headers (header names as these products document their
deal exports; made up here, no file of theirs copied) and ClosePlan's own import
columns, and propose a plan; stage values whose meaning is known are proposed too, the
rest the user maps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ...domain import phi_value, validation
from ...domain.enums import DealStatus
from ...domain.errors import ValidationError

IGNORE, TITLE, STATUS, VALUE, NOTE = "ignore", "title", "status", "value", "note"
OWNER, CLOSE_DATE, PROBABILITY = "owner_email", "expected_close_date", "probability"
PHI_PREFIX = "phi_"
# The targets a column can take besides a PHI field, in the order the window lists them.
TARGETS = (TITLE, STATUS, VALUE, OWNER, CLOSE_DATE, PROBABILITY, NOTE, IGNORE)
TARGET_LABELS = {TITLE: "Title", STATUS: "Stage / status", VALUE: "Amount (value)",
                 OWNER: "Owner (email)", CLOSE_DATE: "Expected close date",
                 PROBABILITY: "Probability", NOTE: "Note (not PHI)", IGNORE: "Ignore"}
REQUIRED = (TITLE, STATUS, VALUE)
# What `--map "Column=target"` accepts beside the targets' own names.
ALIASES = {"stage": STATUS, "amount": VALUE, "owner": OWNER, "close_date": CLOSE_DATE,
           "notes": NOTE, "expected_close": CLOSE_DATE}
STAGE_JOIN = " / "  # two status columns make one stage value: "open / Qualified"

HUBSPOT, PIPEDRIVE, CLOSEPLAN = "hubspot", "pipedrive", "closeplan"
PRESET_NAMES = {HUBSPOT: "HubSpot", PIPEDRIVE: "Pipedrive", CLOSEPLAN: "ClosePlan"}
REMEMBERED = "remembered"

_HUBSPOT_COLUMNS = {
    "deal name": TITLE, "deal stage": STATUS, "amount": VALUE, "close date": CLOSE_DATE,
    "deal owner": OWNER, "deal probability": PROBABILITY, "deal description": NOTE,
    "pipeline": IGNORE, "record id": IGNORE, "create date": IGNORE, "deal type": IGNORE,
}
_PIPEDRIVE_COLUMNS = {
    "deal - title": TITLE, "deal - status": STATUS, "deal - stage": STATUS,
    "deal - value": VALUE, "deal - owner": OWNER, "deal - expected close date": CLOSE_DATE,
    "deal - probability": PROBABILITY, "deal - note": NOTE, "deal - notes": NOTE,
    "deal - id": IGNORE, "deal - currency": IGNORE, "deal - pipeline": IGNORE,
}
_CLOSEPLAN_COLUMNS = {TITLE: TITLE, STATUS: STATUS, VALUE: VALUE, OWNER: OWNER,
                      CLOSE_DATE: CLOSE_DATE, PROBABILITY: PROBABILITY, NOTE: NOTE}
PRESETS: dict[str, dict[str, str]] = {HUBSPOT: _HUBSPOT_COLUMNS, PIPEDRIVE: _PIPEDRIVE_COLUMNS,
                                      CLOSEPLAN: _CLOSEPLAN_COLUMNS}
# The headers that say which product wrote a file.
_SIGNATURES = {HUBSPOT: ("deal name", "deal stage"), PIPEDRIVE: ("deal - title",),
               CLOSEPLAN: (TITLE, STATUS, VALUE)}

_WON, _LOST, _ACTIVE = DealStatus.CLOSED_WON, DealStatus.CLOSED_LOST, DealStatus.ACTIVE
# Stage values whose meaning is known (compared without case, spaces or underscores):
# the seed's own statuses, won/lost, and HubSpot's default sales pipeline's stages.
_KNOWN_STAGES = {
    **{s.value.replace("_", "").lower(): s for s in DealStatus},
    "won": _WON, "lost": _LOST, "closedwon": _WON, "closedlost": _LOST,
    "appointmentscheduled": _ACTIVE, "qualifiedtobuy": _ACTIVE,
    "presentationscheduled": _ACTIVE, "decisionmakerboughtin": _ACTIVE,
    "contractsent": _ACTIVE,
}


@dataclass
class Plan:
    """A mapping: source column (as written) -> target, and stage value -> status.
    `source` says where it came from: a preset's name, REMEMBERED, or "" (by hand)."""

    columns: dict[str, str]
    stages: dict[str, DealStatus] = field(default_factory=dict)
    source: str = ""

    def columns_for(self, target: str) -> list[str]:
        """The source columns mapped to `target`, in header order."""
        return [c for c, t in self.columns.items() if t == target]

    def phi_columns(self) -> dict[str, str]:
        """Source column -> PHI field name."""
        return {c: t[len(PHI_PREFIX):] for c, t in self.columns.items()
                if t.startswith(PHI_PREFIX)}


def layout_key(header: Iterable[str]) -> str:
    """The key of a file layout: the set of its header names (order and case aside)."""
    names = sorted({h.strip().casefold() for h in header})
    return hashlib.sha256("\x1f".join(names).encode("utf-8")).hexdigest()[:40]


def detect(header: Iterable[str]) -> str:
    """The preset whose export this header looks like, or ""."""
    names = {h.strip().casefold() for h in header}
    for preset, signature in _SIGNATURES.items():
        if all(s in names for s in signature):
            return preset
    return ""


def phi_target(name: str) -> str:
    """The PHI target a column named `name` proposes: phi_ and its name in lowercase
    letters, digits and underscores ("Patient name" -> phi_patient_name)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_") or "field"
    if not slug[0].isalpha():
        slug = "f_" + slug
    return PHI_PREFIX + slug[:60]


def propose(header: Iterable[str], preset: str) -> Plan:
    """The plan `preset` proposes for `header` (columns it does not know: ignore)."""
    if preset not in PRESETS:
        raise ValidationError(f"Unknown preset '{preset[:30]}'; use "
                              f"{', '.join(PRESETS)}.")
    known = PRESETS[preset]
    columns: dict[str, str] = {}
    for name in header:
        key = name.strip().casefold()
        target = known.get(key, IGNORE)
        if preset == CLOSEPLAN and key.startswith(PHI_PREFIX):
            target = key
        columns[name] = target
    return Plan(columns, {}, preset)


def known_stage(value: str) -> DealStatus | None:
    """The status a stage value proposes, if its meaning is known: a status name, won or
    lost, a HubSpot default stage; with two status columns ("won / Proposal made") the
    first decides when it is won or lost."""
    for part in (value, value.split(STAGE_JOIN, 1)[0]):
        status = _KNOWN_STAGES.get(re.sub(r"[\s_-]+", "", part).casefold())
        if status is not None and (part == value or status in (_WON, _LOST)):
            return status
    return None


def target_of(text: str) -> str:
    """A target as typed (`--map`): a name, an alias or phi_<field>; else ValidationError."""
    key = text.strip().lower()
    key = ALIASES.get(key, key)
    if key in TARGETS:
        return key
    if key.startswith(PHI_PREFIX) and phi_value.FORM_FIELD_RE.match(key[len(PHI_PREFIX):]):
        return key
    raise ValidationError(f"Unknown target '{text[:40]}'; use one of {', '.join(TARGETS)} "
                          "or phi_<field> (lowercase letters, digits, underscores).")


def split_pair(text: str, what: str) -> tuple[str, str]:
    """ "left=right" of a `--map` or `--stage` option (the last '=' splits)."""
    left, sep, right = text.rpartition("=")
    if not sep or not left.strip() or not right.strip():
        raise ValidationError(f"{what} '{text[:60]}' must look like NAME=VALUE.")
    return left.strip(), right.strip()


def with_overrides(plan: Plan, header: Iterable[str], maps: Iterable[str],
                   stages: Iterable[str]) -> Plan:
    """`plan` with `--map "Column=target"` and `--stage "value=STATUS"` applied."""
    names = {h.casefold(): h for h in header}
    columns = dict(plan.columns)
    for item in maps:
        column, target = split_pair(item, "--map")
        if column.casefold() not in names:
            raise ValidationError(f"--map names the column '{column[:60]}', which the file "
                                  "does not have.")
        columns[names[column.casefold()]] = target_of(target)
    values = dict(plan.stages)
    for item in stages:
        value, status = split_pair(item, "--stage")
        values[value] = validation.status(status)
    return Plan(columns, values, plan.source)


def plan_problems(plan: Plan, unsupported: Iterable[str] = ()) -> list[str]:
    """What keeps a plan from being used (each a sentence saying what to do)."""
    problems: list[str] = []
    for target in REQUIRED:
        if not plan.columns_for(target):
            problems.append(f"Map a column to {TARGET_LABELS[target]}.")
    for target in TARGETS:
        mapped = plan.columns_for(target)
        limit = 2 if target == STATUS else 1
        if target not in (IGNORE, NOTE) and len(mapped) > limit:
            names = ", ".join(f"'{c}'" for c in mapped)
            problems.append(f"{names} are all mapped to {TARGET_LABELS[target]}; keep "
                            f"{'two' if limit == 2 else 'one'} at most.")
    fields = list(plan.phi_columns().values())
    for name in sorted({f for f in fields if fields.count(f) > 1}):
        problems.append(f"Two columns are mapped to the PHI field {name}; give each its own.")
    for target in unsupported:
        if plan.columns_for(target):
            problems.append(f"{TARGET_LABELS[target]} is not supported yet by this version: "
                            f"map '{plan.columns_for(target)[0]}' to Ignore.")
    return problems


def stage_key(row: list[str], indexes: list[int]) -> str:
    """The stage value of a row: its status cells joined (Pipedrive: "open / Qualified")."""
    return STAGE_JOIN.join(row[i].strip() for i in indexes)


def propose_stages(values: Iterable[str], known: Mapping[str, DealStatus]
                   ) -> dict[str, DealStatus]:
    """A status for each stage value: `known` (remembered or given) first, then one whose
    meaning is known; others stay unmapped."""
    out: dict[str, DealStatus] = {}
    for value in values:
        status = known.get(value) or known_stage(value)
        if status is not None:
            out[value] = status
    return out
