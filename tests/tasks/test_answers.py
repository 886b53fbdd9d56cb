"""Typed answers: the documented forms pass, hedges and multiple candidates fail; the typed channel's
schema admits exactly one value of the type and its grading is an equality that never raises."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from scaleenv_mcp.spec.task import AnswerType
from scaleenv_mcp.tasks.answers import answer_matches, answer_schema, typed_answer_matches


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "extra"),
    [
        ("It was placed on 2026-01-26.", "2026-01-26", "date", {}),
        ("January 26, 2026", "2026-01-26", "date", {}),
        ("26 January 2026", "2026-01-26", "date", {}),
        ("Mon, Jan. 26 2026", "2026-01-26", "date", {}),
        ("2026/01/26", "2026-01-26", "date", {}),
        ("26/01/2026", "2026-01-26", "date", {}),
        ("at 2:30 PM on March 20, 2026", "2026-03-20T14:30:00", "datetime", {}),
        ("2026-03-20T14:30:00", "2026-03-20T14:30:00", "datetime", {}),
        ("The total is $1,234.50", 1234.5, "money", {}),
        ("Total: 1.234,50 €", 1234.5, "money", {}),
        ("Your order of 2 items totals $45.00.", 45.0, "money", {}),
        ("12,50 EUR", 12.5, "money", {}),
        ("It is 3.", 3, "number", {}),
        ("You have 2 pending orders, for $45.00 and $12.50.", 2, "number", {}),  # a count: amounts are something else
        ("You have two pending orders; the one from May ships first.", 2, "number", {}),  # a count in words, not "the one"
        ("Yes, it is.", True, "boolean", {"subject": ["active"]}),
        ("true", True, "boolean", {}),
        ("verified", True, "boolean", {}),
        ("You are subscribed.", True, "boolean", {"subject": ["subscribed"]}),
        ("No, it isn't.", False, "boolean", {"subject": ["active"]}),
        ("Your order is paid.", "paid", "enum", {"choices": ["pending", "paid", "unpaid"]}),
        ("It's Extra Data 10GB.", "extra_data_10gb", "enum", {"choices": ["extra_data_10gb", "roaming"]}),
        ("lisbon.", "Lisbon", "text", {}),
        ("Call +1 555 123 4567", "+1-555-123-4567", "phone", {}),
        ("5551234567", "+1-555-123-4567", "phone", {}),
        ("Your code is ab-1234", "AB-1234", "code", {}),
    ],
)
def test_correct_answers_in_the_usual_forms_pass(answer: str, expected: Any, kind: Any, extra: dict[str, Any]) -> None:
    assert answer_matches(answer, expected, kind, **extra) == (True, "")


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "extra", "why"),
    [
        ("I don't know", False, "boolean", {}, "does not say yes or no"),
        ("yes or no", False, "boolean", {}, "alone"),
        ("I can't help with that.", False, "boolean", {}, "does not say yes or no"),
        ("Jan 26 2026 or Jan 27 2026", "2026-01-26", "date", {}, "2 different dates"),
        ("03/04/2026", "2026-03-04", "date", {}, "different dates"),  # March 4 or April 3: ambiguous
        ("pending, paid, shipped", "paid", "enum", {"choices": ["pending", "paid", "shipped"]}, "3 different values"),
        ("Your order is unpaid.", "paid", "enum", {"choices": ["paid", "unpaid"]}, "gives unpaid"),
        ("$12 or $13", 12, "money", {}, "2 different numbers"),
        ("1, 2 or 3 of them", 2, "number", {}, "3 different numbers"),
        ("one or two of them", 2, "number", {}, "2 different numbers"),
        ("", "x", "text", {}, "no answer"),
        (None, "x", "text", {}, "no answer"),
        ("Lisbonne", "Lisbon", "text", {}, "does not give"),
    ],
)
def test_hedges_and_several_candidates_fail(
    answer: str | None, expected: Any, kind: Any, extra: dict[str, Any], why: str
) -> None:
    ok, reason = answer_matches(answer, expected, kind, **extra)
    assert not ok and why in reason


def test_an_answer_longer_than_a_page_is_a_hedge_not_an_answer() -> None:
    ok, reason = answer_matches("paid " + "x" * 20_000, "paid", "enum", choices=["paid", "unpaid"])
    assert not ok and "at most 10,000" in reason


# ---------------------------------------------------------------- the typed channel

STATUS = ["pending", "shipped", "delivered"]


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("date", ["2026-03-07"], ["March 7, 2026", "2026-3-7", "2026-02-30", "2026-03-07T10:00:00", 20260307, None]),
        ("datetime", ["2026-03-07T14:30:00", "2026-03-07T14:30", "2026-03-07 14:30:00"], ["2026-03-07", "2:30 PM", 1]),
        ("money", [12.5, 3, 0, -4.25], ["12.50", "$12.50", True, None, [12.5]]),
        ("number", [3, 2.5, 0], ["3", "three", False, None]),
        ("boolean", [True, False], ["yes", 1, 0, None]),
        ("enum", STATUS, ["Delivered", "maybe", "", ["delivered"], None]),
        ("text", ["Lisbon", "x" * 500], ["", "x" * 501, 5, None]),
        ("code", ["AB-1234"], ["", 1234, ["AB-1234"]]),
        ("phone", ["+1 555 584 4006"], ["", 15555844006]),
        ("list", [[], ["red", "blue"], ["x"] * 100], ["red", [1], ["x"] * 101, [""], None]),
    ],
)
def test_the_answer_schema_admits_one_value_of_its_type(kind: Any, good: list[Any], bad: list[Any]) -> None:
    schema = answer_schema(kind, STATUS if kind == "enum" else ())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert isinstance(schema["description"], str) and schema["description"]
    for value in good:
        assert validator.is_valid(value), (kind, value)
    for value in bad:
        assert not validator.is_valid(value), (kind, value)


def test_an_enum_schema_lists_the_fields_values_and_says_them() -> None:
    schema = answer_schema("enum", ["paid", "unpaid", "paid"])
    assert schema["enum"] == ["paid", "unpaid"] and "paid, unpaid" in schema["description"]
    assert answer_schema("enum")["type"] == "string"  # no known values: any short string


@pytest.mark.parametrize(
    ("submitted", "expected", "kind", "ok"),
    [
        (1679.94, 1679.94, "money", True),
        (1679.9400000001, 1679.94, "money", True),  # to the cent
        (1680, 1679.94, "money", False),
        (45, 45.0, "money", True),
        (3, 3, "number", True),
        (3.0, 3, "number", True),
        (4, 3, "number", False),
        (10**400, 3, "number", False),  # a huge JSON integer is a wrong number, not a crash
        (True, True, "boolean", True),
        (False, True, "boolean", False),
        ("2026-03-07", "2026-03-07", "date", True),
        ("2026-03-08", "2026-03-07", "date", False),
        ("2026-03-20T14:30", "2026-03-20T14:30:00", "datetime", True),
        ("2026-03-20T14:30:00Z", "2026-03-20T14:30:00", "datetime", True),  # the same wall-clock time
        ("2026-03-20T15:30:00", "2026-03-20T14:30:00", "datetime", False),
        ("delivered", "delivered", "enum", True),
        ("In Transit", "in_transit", "enum", True),
        ("shipped", "delivered", "enum", False),
        ("ab 1234", "AB-1234", "code", True),
        ("AB-1235", "AB-1234", "code", False),
        ("(555) 584-4006", "+1-555-584-4006", "phone", True),
        ("555-584-4007", "+1-555-584-4006", "phone", False),
        ("  “Lisbon.” ", "Lisbon", "text", True),
        ("Porto", "Lisbon", "text", False),
        (["Blue", "red ", "red"], ["red", "blue"], "list", True),
        (["red"], ["red", "blue"], "list", False),
        (["red", "blue", "green"], ["red", "blue"], "list", False),
    ],
)
def test_a_typed_answer_is_graded_by_equality_of_one_value(submitted: Any, expected: Any, kind: Any, ok: bool) -> None:
    assert typed_answer_matches(submitted, expected, kind)[0] is ok


@pytest.mark.parametrize(
    ("submitted", "kind", "why"),
    [
        (True, "number", "expected a number, got a boolean (true)"),
        ("12.50", "money", "expected a number, got a string '12.50'"),
        (1, "boolean", "expected a boolean, got a number (1)"),
        ("yes", "boolean", "expected a boolean"),
        (None, "date", "expected a date (YYYY-MM-DD), got null"),
        ("March 7, 2026", "date", "expected a date in the form YYYY-MM-DD"),
        (["delivered"], "enum", "expected a string, got an array of 1"),
        ({"answer": 3}, "text", "expected a string, got an object"),
        ("red", "list", "expected an array of strings"),
        ([1, 2], "list", "expected an array of strings"),
    ],
)
def test_a_typed_answer_of_the_wrong_type_says_what_was_expected(submitted: Any, kind: Any, why: str) -> None:
    expected = {
        "number": 3,
        "money": 12.5,
        "boolean": True,
        "date": "2026-03-07",
        "enum": "delivered",
        "text": "x",
        "list": ["red"],
    }
    ok, reason = typed_answer_matches(submitted, expected[kind], kind)
    assert not ok and why in reason, reason


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
EXPECTED = {"date": "2026-03-07", "datetime": "2026-03-07T14:30:00", "money": 12.5, "number": 3, "boolean": True,
            "enum": "delivered", "text": "Lisbon", "code": "AB-1234", "phone": "+1-555-584-4006", "list": ["red", "blue"]}  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(submitted=JSON, kind=st.sampled_from(get_args(AnswerType)))
def test_typed_grading_never_raises_on_any_json_value(submitted: Any, kind: Any) -> None:
    ok, reason = typed_answer_matches(submitted, EXPECTED[kind], kind)
    assert isinstance(ok, bool) and (ok or reason)
