"""PHI as the seed stores it: a free JSON object.

The forms edit text fields under snake_case names (the chart's fields and imported
``phi.*`` columns). The organisation's own system, through the server, may send anything
JSON holds: nested objects, lists, numbers, names such as ``PatientID``. Those are kept
exactly as they came and shown as JSON text, so a save through a form never drops or
changes them (issue 12: "never drops a field").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# A name the forms can edit: lowercase letters, digits and underscores.
FORM_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

Phi = dict[str, Any]


def is_form_field(key: object, value: object) -> bool:
    """Whether a form can show and edit this field as a line of text."""
    return isinstance(key, str) and bool(FORM_FIELD_RE.match(key)) and isinstance(value, str)


def split(phi: Mapping[str, Any]) -> tuple[dict[str, str], Phi]:
    """The fields a form edits as text, and the others, which it must keep unchanged."""
    form: dict[str, str] = {}
    kept: Phi = {}
    for key, value in phi.items():
        if is_form_field(key, value):
            form[key] = value
        else:
            kept[key] = value
    return form, kept


def as_text(value: Any) -> str:
    """How a value is shown: text as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
