"""Rules for every value a user can type, in one place.

Each function takes untrusted input (any type) and returns the clean value or raises
`ValidationError` with a message that names the field and says what is allowed. The
messages never repeat the value itself: it may be PHI or a password.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from . import phi_value
from .clock import utcnow
from .enums import ActivityKind, DealStatus, UserRole
from .errors import ValidationError
from .phi_value import Phi

MAX_TITLE = 200
MAX_NAME = 100
MAX_EMAIL = 254
MAX_REASON = 500
MAX_DOMAIN = 253
MAX_ACTIVITY = 1000  # an activity's text (the server takes text fields up to 1,000)
MAX_PHI_FIELDS = 32
MAX_PHI_VALUE = 4000
MAX_PHI_BYTES = 64 * 1024
BCRYPT_MAX_BYTES = 72

MAX_PHI_KEY = 128
MAX_PHI_DEPTH = 16
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _LABEL + r"(?:\." + _LABEL + r")+$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)" + _LABEL + r"(?:\." + _LABEL + r")+$")

# The PHI fields the forms offer; other lowercase names are allowed for imported data.
STANDARD_PHI_FIELDS: tuple[tuple[str, str], ...] = (
    ("patient_name", "Patient name"),
    ("mrn", "Medical record number"),
    ("date_of_birth", "Date of birth"),
    ("diagnosis", "Diagnosis"),
    ("insurance_id", "Insurance member ID"),
    ("notes", "Clinical notes"),
)


def _has_control(text: str, allow_newlines: bool = False) -> bool:
    for ch in text:
        if allow_newlines and ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in "\u2028\u2029":
            return True
    return False


def text(value: Any, field: str, *, max_len: int, required: bool = True,
         allow_newlines: bool = False) -> str:
    """A trimmed single-line (or multi-line) text of at most `max_len` characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text.")
    clean = unicodedata.normalize("NFC", value.strip())
    if required and not clean:
        raise ValidationError(f"{field} is required.")
    if len(clean) > max_len:
        raise ValidationError(f"{field} is too long: at most {max_len} characters.")
    if _has_control(clean, allow_newlines):
        raise ValidationError(f"{field} contains control or unassigned characters; remove them.")
    return clean


def title(value: Any) -> str:
    return text(value, "Title", max_len=MAX_TITLE)


def person_name(value: Any, field: str) -> str:
    return text(value, field, max_len=MAX_NAME)


def email(value: Any) -> str:
    """An email address, lower-cased (the seed's emails are unique regardless of case)."""
    clean = text(value, "Email", max_len=MAX_EMAIL)
    if not EMAIL_RE.match(clean):
        raise ValidationError("Email is not a valid address (expected name@example.org).")
    return clean.lower()


def domain(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    clean = text(value, "Domain", max_len=MAX_DOMAIN).lower()
    if not DOMAIN_RE.match(clean):
        raise ValidationError("Domain is not a valid host name (expected example.org).")
    return clean


def status(value: Any) -> DealStatus:
    if isinstance(value, DealStatus):
        return value
    names = ", ".join(s.value for s in DealStatus)
    if not isinstance(value, str):
        raise ValidationError(f"Status must be one of {names}.")
    key = value.strip().upper().replace(" ", "_")
    try:
        return DealStatus(key)
    except ValueError:
        raise ValidationError(f"Status must be one of {names}.") from None


def role(value: Any) -> UserRole:
    if isinstance(value, UserRole):
        return value
    if isinstance(value, str):
        try:
            return UserRole(value.strip().upper())
        except ValueError:
            pass
    raise ValidationError("Role must be ADMIN or USER.")


def password(value: Any, min_length: int) -> str:
    """A new password: long enough, and short enough for bcrypt (never silently cut)."""
    if not isinstance(value, str) or not value:
        raise ValidationError("Password is required.")
    if len(value) < min_length:
        raise ValidationError(f"Password is too short: use at least {min_length} characters.")
    if len(value.encode("utf-8")) > BCRYPT_MAX_BYTES:
        raise ValidationError(
            f"Password is too long: at most {BCRYPT_MAX_BYTES} bytes (fewer with accented "
            "or non-Latin characters)."
        )
    if "\x00" in value or _has_control(value):
        raise ValidationError("Password contains control characters; use printable characters.")
    if not value.strip():
        raise ValidationError("Password cannot be only spaces.")
    return value


def reason(value: Any) -> str:
    return text(value, "Reason", max_len=MAX_REASON)


def phi(value: Any) -> Phi | None:
    """PHI as an object of named fields; None or {} means no PHI.

    Accepts a dict or a JSON text. Text fields under lowercase names are what the forms
    edit: trimmed and checked like any typed text, an empty one dropped. Anything else the
    seed's free JSON holds (nested objects, lists, numbers, other names), as an
    organisation's system sends it, is kept exactly as given (`phi_value`).
    """
    if value is None:
        return None
    if isinstance(value, str):
        if len(value.encode("utf-8", "surrogatepass")) > MAX_PHI_BYTES:
            raise ValidationError(f"PHI is too large: at most {MAX_PHI_BYTES // 1024} KiB.")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValidationError("PHI is not valid JSON: give an object such as "
                                  '{"patient_name": "..."}.') from None
    if not isinstance(value, dict):
        raise ValidationError('PHI must be an object of named fields, such as {"mrn": "..."}.')
    if len(value) > MAX_PHI_FIELDS:
        raise ValidationError(f"PHI has too many fields: at most {MAX_PHI_FIELDS}.")
    clean: Phi = {}
    for key, raw in value.items():
        if phi_value.is_form_field(key, raw):
            item = text(raw, f"PHI field {key}", max_len=MAX_PHI_VALUE, required=False,
                        allow_newlines=True)
            if item:
                clean[key] = item
        elif raw is None and isinstance(key, str) and phi_value.FORM_FIELD_RE.match(key):
            continue  # a form field left out
        else:
            clean[_phi_key(key)] = _json_value(raw, 0)
    if len(json.dumps(clean, ensure_ascii=False).encode("utf-8")) > MAX_PHI_BYTES:
        raise ValidationError(f"PHI is too large: at most {MAX_PHI_BYTES // 1024} KiB.")
    return clean or None


def _phi_key(key: Any) -> str:
    if (not isinstance(key, str) or not key.strip() or len(key) > MAX_PHI_KEY
            or _has_control(key)):
        raise ValidationError(f"PHI field names must be text of 1 to {MAX_PHI_KEY} printable "
                              "characters.")
    return key


def _json_value(value: Any, depth: int) -> Any:
    """A value of free PHI, unchanged, if JSON can hold it (finite numbers, bounded depth)."""
    if depth > MAX_PHI_DEPTH:
        raise ValidationError(f"PHI is nested too deeply: at most {MAX_PHI_DEPTH} levels.")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError("PHI numbers must be finite (no NaN or Infinity).")
        return value
    if isinstance(value, list):
        return [_json_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise ValidationError("PHI field names must be text.")
        return {k: _json_value(v, depth + 1) for k, v in value.items()}
    raise ValidationError("PHI values must be text, numbers, true/false, lists or objects.")


DATE_FORMAT = "YYYY-MM-DD"  # how PHI holds a date (the demo's and the forms' dates)
EARLIEST_BIRTH = date(1900, 1, 1)


def birth_date(value: Any, today: date | None = None) -> str:
    """A date of birth as a form takes it: a real day written YYYY-MM-DD, from 1900 to
    `today`; "" when none is given. The PHI rule (`phi`) still takes any text, so that
    imported records keep what they hold; the forms write this one format."""
    clean = text(value, "Date of birth", max_len=10, required=False)
    if not clean:
        return ""
    example = "such as 1950-02-03"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", clean):
        raise ValidationError(f"Date of birth must be written {DATE_FORMAT} ({example}), or "
                              "picked from the calendar.")
    try:
        day = date.fromisoformat(clean)
    except ValueError:
        raise ValidationError(f"Date of birth is not a real day: check the month and the "
                              f"day ({DATE_FORMAT}, {example}).") from None
    if not EARLIEST_BIRTH <= day <= (today or utcnow().date()):
        raise ValidationError("Date of birth must be between 1900-01-01 and today.")
    return clean


def page(offset: Any, limit: Any, max_limit: int = 1000) -> tuple[int, int]:
    for name, v in (("offset", offset), ("limit", limit)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValidationError(f"Paging {name} must be a whole number.")
    if offset < 0:
        raise ValidationError("Paging offset cannot be negative.")
    if not 1 <= limit <= max_limit:
        raise ValidationError(f"Paging limit must be between 1 and {max_limit}.")
    return offset, limit


def activity_kind(value: Any) -> ActivityKind:
    """A deal activity's kind (note, call, meeting, email, task, next step)."""
    if isinstance(value, ActivityKind):
        return value
    names = ", ".join(k.value.lower().replace("_", " ") for k in ActivityKind)
    if isinstance(value, str):
        try:
            return ActivityKind(value.strip().upper().replace(" ", "_").replace("-", "_"))
        except ValueError:
            pass
    raise ValidationError(f"Activity kind must be one of {names}.")


def activity_body(value: Any) -> str:
    """An activity's text: required, several lines allowed, at most MAX_ACTIVITY
    characters. It is not PHI and is stored unencrypted: patient details belong in the
    deal's PHI fields (the form says so)."""
    return text(value, "Activity text", max_len=MAX_ACTIVITY, allow_newlines=True)


def due_date(value: Any) -> datetime | None:
    """A task's due day (a date, a datetime or YYYY-MM-DD text; None or "" for none), kept
    as midnight UTC of that calendar day: tasks are due by the day, not the minute."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise ValidationError(f"Due date must be a date ({DATE_FORMAT}).") from None
    else:
        raise ValidationError(f"Due date must be a date ({DATE_FORMAT}).")
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        raise ValidationError("Due date must be between 2000 and 2999.")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def close_date(value: Any) -> date | None:
    """A deal's expected close date (a date or YYYY-MM-DD text; None or "" for none)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"Expected close date must be a real day written "
                                  f"{DATE_FORMAT} (such as 2027-03-31).") from None
    else:
        raise ValidationError(f"Expected close date must be a date ({DATE_FORMAT}).")
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        raise ValidationError("Expected close date must be between 2000 and 2999.")
    return day


def probability(value: Any) -> int | None:
    """A deal's win probability, a whole percent 0..100; None or "" for the status
    default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text_value = value.strip().removesuffix("%").strip()
        if not re.fullmatch(r"[0-9]{1,3}", text_value):
            raise ValidationError("Probability must be a whole percent from 0 to 100, or "
                                  "empty for the status default.")
        value = int(text_value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValidationError("Probability must be a whole percent from 0 to 100, or empty "
                              "for the status default.")
    return value


# What `owner`'s lookup answers for an id: "active", "inactive", or None (no such user
# in the tenant).
OwnerLookup = Callable[[str], str | None]


def owner(value: Any, lookup: OwnerLookup) -> str:
    """A deal's owner: the id of an active user of the tenant (`lookup` says which)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Owner is required: choose a user of your organisation.")
    found = lookup(value.strip())
    if found is None:
        raise ValidationError("Owner must be a user of your organisation; pick one from "
                              "the list of users.")
    if found != "active":
        raise ValidationError("Owner must be an active user: this user is deactivated. "
                              "Choose another owner, or ask an administrator to reactivate "
                              "the user.")
    return value.strip()
