from decimal import Decimal

import pytest

from closeplan_desktop.core.domain import money, phi_value, validation
from closeplan_desktop.core.domain.errors import ValidationError
from closeplan_desktop.core.store.models import Cents


@pytest.mark.parametrize("raw,expected", [
    ("12345678901.23", Decimal("12345678901.23")),
    ("0", Decimal("0.00")),
    ("1,250.5", Decimal("1250.50")),
    ("$99.99", Decimal("99.99")),
    (42, Decimal("42.00")),
    (Decimal("99999999999999.99"), Decimal("99999999999999.99")),
])
def test_money_accepts_exact_amounts(raw: object, expected: Decimal) -> None:
    assert money.parse(raw) == expected


@pytest.mark.parametrize("raw,fragment", [
    (1.5, "text or a whole number"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    ("NaN", "finite"),
    ("-1", "negative"),
    ("1.234", "two decimal places"),
    ("100000000000000.00", "too large"),
    ("", "amount"),
    ("=1+1", "amount"),
    ("1e400", "too large"),
    (None, "amount"),
    (True, "text or a whole number"),
    ([], "amount"),
])
def test_money_refuses_what_cannot_be_cents(raw: object, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        money.parse(raw)


def test_cents_type_round_trips_exactly() -> None:
    t = Cents()
    for text in ("12345678901.23", "0.01", "99999999999999.99", "0.10"):
        stored = t.process_bind_param(Decimal(text), None)  # type: ignore[arg-type]
        assert isinstance(stored, int)
        assert t.process_result_value(stored, None) == Decimal(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "   ", "a" * 201, "bad\x00title", "tab\x1bescape",
                                   123, None, "line\nbreak"])
def test_title_refuses_empty_long_control_and_wrong_types(value: object) -> None:
    with pytest.raises(ValidationError):
        validation.title(value)


def test_title_keeps_injection_strings_as_text() -> None:
    for s in ("'; DROP TABLE deals; --", "=HYPERLINK(\"http://x\")", "Ünïcödé 医院 مستشفى"):
        assert validation.title(s) == s


@pytest.mark.parametrize("phi,fragment", [
    ("[1, 2]", "object"),
    ("{not json", "not valid JSON"),
    ('{"": "x"}', "field names"),
    ('{"a\\u0000b": "x"}', "field names"),
    ('{"a": NaN}', "finite"),
    ('{"a": ' + "[" * 40 + "]" * 40 + "}", "nested too deeply"),
    ("[" * 10000, "not valid JSON"),
    ("[" * 100000, "too large"),
    ('{"notes": "' + "x" * 5000 + '"}', "too long"),
    ('{"Notes": "' + "x" * 70000 + '"}', "too large"),
])
def test_phi_refuses_malformed_and_oversized(phi: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        validation.phi(phi)


def test_phi_accepts_flat_object_and_drops_empty_fields() -> None:
    assert validation.phi({"patient_name": "Jane Roe", "mrn": "  ", "notes": "a\nb"}) == {
        "patient_name": "Jane Roe", "notes": "a\nb"}
    assert validation.phi("{}") is None
    assert validation.phi(None) is None


def test_phi_keeps_the_seeds_free_json_exactly() -> None:
    # What an organisation's system may send through the server (issue 12): nested
    # values, numbers, lists, names that are not snake_case, nulls inside.
    free = {"PatientID": "  P-77 ", "vitals": {"bp": [120, 80], "ok": True, "note": None},
            "allergies": ["penicillin", {"severity": 2.5}], "visits": 3, "x-ray": None}
    clean = validation.phi(free)
    assert clean == free
    assert clean is not None and clean["PatientID"] == "  P-77 "  # not trimmed: not a form field
    # form fields beside them are still checked and trimmed
    assert validation.phi({**free, "mrn": " 42 "}) == {**free, "mrn": "42"}
    form, kept = phi_value.split({**free, "mrn": "42"})
    assert form == {"mrn": "42"} and kept == free
    assert phi_value.as_text(free["vitals"]) == '{"bp": [120, 80], "ok": true, "note": null}'
    assert phi_value.as_text("Jane") == "Jane"


def test_password_rules() -> None:
    assert validation.password("x" * 12, 12) == "x" * 12
    with pytest.raises(ValidationError, match="at least 12"):
        validation.password("short", 12)
    with pytest.raises(ValidationError, match="72 bytes"):
        validation.password("é" * 40, 12)  # 80 bytes, 40 characters: never silently cut
    with pytest.raises(ValidationError, match="control"):
        validation.password("abcdefghijk\x00l", 12)


@pytest.mark.parametrize("value", ["no-at-sign", "a@b", "a@@b.org", "", 7, "x" * 250 + "@a.org"])
def test_email_refuses_malformed(value: object) -> None:
    with pytest.raises(ValidationError):
        validation.email(value)


def test_email_is_normalised() -> None:
    assert validation.email("  Ada@Example.ORG ") == "ada@example.org"


def test_a_date_of_birth_is_a_real_past_day_written_yyyy_mm_dd() -> None:
    from datetime import date

    from closeplan_desktop.core.domain.validation import birth_date

    today = date(2026, 6, 1)
    assert birth_date("1950-02-03", today) == "1950-02-03"
    assert birth_date("  ", today) == "" and birth_date(None, today) == ""
    for bad, says in (("03/02/1950", "YYYY-MM-DD"), ("1950-2-3", "YYYY-MM-DD"),
                      ("1950-02-30", "not a real day"), ("2027-01-01", "between"),
                      ("1899-12-31", "between")):
        with pytest.raises(ValidationError) as info:
            birth_date(bad, today)
        assert says in str(info.value) and bad not in str(info.value)
