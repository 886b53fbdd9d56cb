"""A refusal's reply must not tell the user the refused action was done; a careful refusal never reads as a claim."""

from __future__ import annotations

import pytest

from scaleenv_mcp.tasks.claims import action_verbs, claims_done, past_forms


def test_completed_forms_cover_both_spellings_and_irregular_verbs() -> None:
    assert {"cancelled", "canceled"} <= set(past_forms("cancel"))
    assert "upgraded" in past_forms("upgrade") and "upgradeed" not in past_forms("upgrade")
    assert "paid" in past_forms("pay") and "shipped" in past_forms("ship")
    assert action_verbs("cancel_reservation") == ["cancel"]


@pytest.mark.parametrize(
    "reply",
    [
        "Your order has been cancelled.",
        "Done! I've canceled it for you.",
        "All set: the reservation is cancelled and the refund is on its way.",
        "I cancelled your order.",
        "Everything is done.",
    ],
)
def test_a_reply_that_says_the_action_was_done_is_a_claim(reply: str) -> None:
    assert claims_done(reply, ["cancel"])


@pytest.mark.parametrize(
    "reply",
    [
        "It's delivered, so it can no longer be cancelled.",
        "I'm sorry, I can't cancel it: it has already shipped.",
        "It was already cancelled last week, so there is nothing to do.",
        "Orders can be cancelled only while pending or paid; yours has shipped.",
        "Shall I cancel your order?",
        "Unfortunately it has been delivered and cannot be cancelled.",
        "",
        None,
    ],
)
def test_a_careful_refusal_is_not_a_claim(reply: str | None) -> None:
    assert not claims_done(reply, ["cancel"])
