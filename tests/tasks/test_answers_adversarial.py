"""The prose grader against shortcuts: negations, hedges, bounds and several candidates pay nothing in
any answer type, while correct answers written another way (quoted, another format or spelling, with a
clause about the action or a sentence about something else) pay."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scaleenv_mcp.tasks.answers import answer_matches

QUOTES = [("'", "'"), ('"', '"'), ("‘", "’"), ("“", "”"), ("`", "`"), ("«", "»")]
STATUS = ["pending", "shipped", "delivered", "cancelled"]
STAY = ["booked", "checked_in", "checked_out", "cancelled"]


@dataclass
class Case:
    """One question: the expected value as an agent would write it, and a rival of the same field in another format."""

    kind: Any
    expected: Any
    written: str
    rival: str
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, answer: str) -> tuple[bool, str]:
        return answer_matches(answer, self.expected, self.kind, **self.extra)


CASES = {
    "money": Case("money", 1679.94, "$1,679.94", "1,234.50 dollars"),
    "money-plain": Case("money", 1679.94, "1679.94", "1,234.50 dollars"),
    "number": Case("number", 3, "3", "four"),
    "date": Case("date", "2026-03-07", "2026-03-07", "March 8, 2026"),
    "date-words": Case("date", "2026-03-07", "March 7, 2026", "2026-03-08"),
    "enum": Case("enum", "delivered", "delivered", "'CANCELLED'", {"choices": STATUS, "subject": ["status"]}),
    "code": Case("code", "AB-1234", "AB-1234", "ab1235"),
    "phone": Case("phone", "+1-555-584-4006", "+1 555 584 4006", "(555) 584-4007"),
    "text": Case("text", "Lisbon", "Lisbon", "Porto"),
}
BOUNDED = ["money", "money-plain", "number", "date", "date-words"]


def shortcuts(case: Case) -> list[str]:
    v, r = case.written, case.rival
    out = [
        f"It is not {v}.",
        f"The status isn't {v}.",
        f"Not {v}.",
        f"I'm not sure. Maybe {v}?",
        f"Possibly {v}.",
        f"I think it might be {v}.",
        f"{v}, I guess?",
        f"It might be {v}.",
        f"Is it {v}?",
        f"{v}, or maybe {r}.",
        f"{v} or {r}",
        f"Either {v} or {r}.",
        f"It is {v}. Or is it {r}?",
    ]
    if case.kind != "text":  # a free text has no known rivals to list
        out += [f"{v}, {r}", f"It's one of: {v}, {r}."]
    return out


BOUNDS = ["At least {v}.", "It is more than {v}.", "Up to {v}.", "Under {v}.", "{v} or more.", "No more than {v}.",
          "About {v}.", "Before {v}.", "Between {v} and {r}."]  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_negations_hedges_and_several_candidates_pay_nothing(name: str) -> None:
    case = CASES[name]
    assert case.check(f"It is {case.written}.") == (True, "")  # the plain answer pays ...
    for answer in shortcuts(case):
        ok, reason = case.check(answer)
        assert not ok and reason, answer  # ... and none of its shortcuts does


@pytest.mark.parametrize("name", BOUNDED)
def test_bounds_and_estimates_pay_nothing(name: str) -> None:
    case = CASES[name]
    for template in BOUNDS:
        answer = template.format(v=case.written, r=case.rival)
        ok, reason = case.check(answer)
        assert not ok and ("bound" in reason or "different" in reason), (answer, reason)


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "extra"),
    [
        ("1679.94 or maybe 1,234.50 dollars", 1679.94, "money", {}),
        ("1679.94 or 1,234.50 dollars", 1679.94, "money", {}),
        ("$12 or 13", 12, "money", {}),
        ("2026-03-07 or March 8, 2026", "2026-03-07", "date", {}),
        ("3 or three or four", 3, "number", {}),
        ("neither shipped nor delivered", "delivered", "enum", {"choices": STATUS}),
        ("pending/delivered", "delivered", "enum", {"choices": STATUS}),
        ("It's delivered or cancelled.", "delivered", "enum", {"choices": STATUS}),
        ("It's delivered. Or is it cancelled?", "delivered", "enum", {"choices": STATUS}),
        ("It could be delivered.", "delivered", "enum", {"choices": STATUS}),
        ("Delivered, I believe.", "delivered", "enum", {"choices": STATUS}),
        ("It's probably delivered.", "delivered", "enum", {"choices": STATUS}),
        ("Delivered?", "delivered", "enum", {"choices": STATUS}),
        ("It is delivered. It is not delivered.", "delivered", "enum", {"choices": STATUS}),
        ("It's delivered, isn't it?", "delivered", "enum", {"choices": STATUS}),
        ("Possibly yes.", True, "boolean", {"subject": ["paid"]}),
        ("Not necessarily.", False, "boolean", {"subject": ["paid"]}),
        ("Yes, I think so.", True, "boolean", {"subject": ["paid"]}),
        ("Yes?", True, "boolean", {"subject": ["paid"]}),
        ("red or blue", ["red", "blue"], "list", {"choices": ["red", "blue", "green"]}),
        ("red, blue, green", ["red", "blue"], "list", {"choices": ["red", "blue", "green"]}),
        ("red but not blue", ["red", "blue"], "list", {"choices": ["red", "blue", "green"]}),
        ("It's at 2:30 PM or 3:30 PM on March 20, 2026.", "2026-03-20T14:30:00", "datetime", {}),
        ("It's after 2:30 PM on March 20, 2026.", "2026-03-20T14:30:00", "datetime", {}),
    ],
)
def test_several_candidates_in_any_format_and_other_hedges_fail(
    answer: str, expected: Any, kind: Any, extra: dict[str, Any]
) -> None:
    assert not answer_matches(answer, expected, kind, **extra)[0]


# ---------------------------------------------------------------- correct answers pay


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(("left", "right"), QUOTES)
def test_a_value_in_quotes_of_any_kind_pays(name: str, left: str, right: str) -> None:
    case = CASES[name]
    assert case.check(f"It is {left}{case.written}{right}.") == (True, "")
    assert case.check(f"{left}{case.written}{right}") == (True, "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_sentence_about_something_else_does_not_cancel_a_correct_answer(name: str) -> None:
    case = CASES[name]
    for extra in ["Your reservation is not insured.", "I can't change the delivery address.", "Is there anything else?"]:
        assert case.check(f"It is {case.written}. {extra}") == (True, ""), extra


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "extra"),
    [
        # an enum value used as an action, not as the status
        ("It's delivered, so it can no longer be cancelled.", "delivered", "enum", {"choices": STATUS}),
        ("It has been delivered, so it cannot be cancelled.", "delivered", "enum", {"choices": STATUS}),
        ("It is shipped and can't be cancelled any more.", "shipped", "enum", {"choices": STATUS}),
        ("Orders can only be cancelled while they are pending; yours is shipped.", "shipped", "enum", {"choices": STATUS}),
        (
            "I'm sorry, I can't: that is only possible when it is pending, and yours is delivered.",
            "delivered",
            "enum",
            {"choices": STATUS},
        ),
        ("You cancelled it yesterday, so its status is cancelled.", "cancelled", "enum", {"choices": STATUS}),
        ("It is cancelled, so it can't be cancelled again.", "cancelled", "enum", {"choices": STATUS}),
        ("It was shipped on Monday and will be delivered on Friday.", "shipped", "enum", {"choices": STATUS}),
        ("It went from pending to shipped.", "shipped", "enum", {"choices": STATUS}),
        ("It was originally pending but is now shipped.", "shipped", "enum", {"choices": STATUS}),
        ("It's not cancelled, it's delivered.", "delivered", "enum", {"choices": STATUS}),
        ("Your order ORD-0012 shows as delivered.", "delivered", "enum", {"choices": STATUS}),
        ("Status: DELIVERED", "delivered", "enum", {"choices": STATUS}),
        ("I can't cancel your reservation because you've already checked in.", "checked_in", "enum", {"choices": STAY}),
        ("I'm unable to change it: you cancelled this booking on March 3.", "cancelled", "enum", {"choices": STAY}),
        ("I have cancelled the other booking; this one is booked.", "booked", "enum", {"choices": STAY}),
        ("**Status:** Checked-In", "checked_in", "enum", {"choices": STAY}),
        ("Your ticket's priority is P3.", "P3", "enum", {"choices": ["P1", "P2", "P3", "P4"]}),
        # spellings
        ("Your order was canceled.", "cancelled", "enum", {"choices": STATUS}),
        ("You are enroled.", "enrolled", "enum", {"choices": ["enrolled", "waitlisted", "dropped"]}),
        ("It is authorized.", "authorised", "enum", {"choices": ["authorised", "declined"]}),
        ("The colour is grey.", "color is grey", "text", {}),
        # identifiers are not numbers
        ("You are enrolled in CS101 and 2 other courses.", 2, "number", {}),
        ("Flight FLT-0999 costs $120.00.", 120.0, "money", {}),
        ("Order #12 came to $45.", 45, "money", {}),
        ("Call +1-555-584-4006; you owe $45.", 45, "money", {}),
        ("The 10GB pack costs $15.", 15, "money", {}),
        ("Your order of 2 items totals $45.00.", 45, "money", {}),
        ("You have 2 pending orders: ORD-0003 (placed March 3) and ORD-0007 (placed 5 March).", 2, "number", {}),
        ("In 2026 you placed 4 orders.", 4, "number", {}),
        # counts in words
        ("You have no pending orders.", 0, "number", {}),
        ("None.", 0, "number", {}),
        ("None of them are pending.", 0, "number", {}),
        ("Zero.", 0, "number", {}),
        ("You have three.", 3, "number", {}),
        ("There are a dozen.", 12, "number", {}),
        ("Only one of your orders is pending.", 1, "number", {}),
        ("You have 3 orders; one of them ships today.", 3, "number", {}),
        # dates a careful person writes
        ("You have until June 15, 2026 to return it.", "2026-06-15", "date", {}),
        ("It is due by 2026-06-15.", "2026-06-15", "date", {}),
        ("It will arrive on Saturday, March 7th, 2026.", "2026-03-07", "date", {}),
        # yes and no in sentences
        ("Yes, your order is paid. Your reservation is not insured.", True, "boolean", {"subject": ["paid"]}),
        ("You have no outstanding balance, so it's paid.", True, "boolean", {"subject": ["paid"]}),
        ("You are subscribed, so you can't subscribe again.", True, "boolean", {"subject": ["subscribed"]}),
        ("Your account is inactive.", False, "boolean", {"subject": ["active"]}),
        ("No, your identity is not verified.", False, "boolean", {"subject": ["identity", "verified"]}),
        ("I'm afraid not.", False, "boolean", {"subject": ["paid"]}),
        ("The answer is no.", False, "boolean", {"subject": ["paid"]}),
        # free text, codes, lists
        ("  “Lisbon.” ", "Lisbon", "text", {}),
        ("The city is Lisbon.", "Lisbon", "text", {}),
        ("Your code is AB-1234, not AB-1235.", "AB-1234", "code", {}),
        ("Call (555) 584-4006.", "+1-555-584-4006", "phone", {}),
        ("You ordered red and blue.", ["red", "blue"], "list", {"choices": ["red", "blue", "green"]}),
    ],
)
def test_correct_answers_written_another_way_pay(answer: str, expected: Any, kind: Any, extra: dict[str, Any]) -> None:
    assert answer_matches(answer, expected, kind, **extra) == (True, "")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("It is not delivered.", "is not delivered"),
        ("Maybe delivered.", "hedges"),
        ("Is it delivered?", "asks"),
        ("It's delivered or cancelled.", "2 different values"),
        ("The airline cancelled it.", "gives no value"),  # an action, with no status said
    ],
)
def test_a_failed_answer_says_why(answer: str, why: str) -> None:
    ok, reason = answer_matches(answer, "delivered", "enum", choices=STATUS)
    assert not ok and why in reason, reason


def test_a_value_two_choices_share_keeps_its_own_spelling() -> None:
    """When unifying spellings would merge two allowed values, each is matched as written."""
    choices = ["filled", "filed"]
    assert answer_matches("It is filled.", "filled", "enum", choices=choices) == (True, "")
    assert answer_matches("It is filed.", "filled", "enum", choices=choices)[0] is False
