"""Typed answers: the documented forms pass, hedges and multiple candidates fail."""

from __future__ import annotations

from typing import Any

import pytest

from scaleenv_mcp.tasks.answers import answer_matches


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
def test_hedges_and_several_candidates_fail(answer: str | None, expected: Any, kind: Any, extra: dict[str, Any], why: str) -> None:
    ok, reason = answer_matches(answer, expected, kind, **extra)
    assert not ok and why in reason


def test_an_answer_longer_than_a_page_is_a_hedge_not_an_answer() -> None:
    ok, reason = answer_matches("paid " + "x" * 20_000, "paid", "enum", choices=["paid", "unpaid"])
    assert not ok and "at most 10,000" in reason
