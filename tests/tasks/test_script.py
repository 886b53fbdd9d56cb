"""The caller's lines (tasks/script.py) and the rows a caller holds back: reproducible, varied, and
in words a person says."""

from __future__ import annotations

from pathlib import Path

from scaleenv_mcp.spec.load import load_blueprint
from scaleenv_mcp.tasks.generation.caller import hold_back_rows
from scaleenv_mcp.tasks.script import (
    change_of_mind_line,
    lower_first,
    persona,
    push_back_line,
    reason_sentence,
    script_rng,
)

RETAIL = load_blueprint(Path(__file__).resolve().parents[2] / "synthesis" / "domains" / "retail.yaml")


def test_the_same_task_draws_the_same_lines_and_other_tasks_draw_others() -> None:
    one = [persona("Ana Silva", script_rng("retail", "CUS-0001:cancel")) for _ in range(2)]
    assert one[0] == one[1] and one[0].startswith("Ana Silva, ")
    many = {persona("Ana Silva", script_rng("retail", f"CUS-0001:{i}")) for i in range(40)}
    assert len(many) >= 25


def test_a_reason_reads_as_one_sentence_whatever_its_form() -> None:
    for i in range(30):
        rng = script_rng("x", i)
        text = reason_sentence("my plans changed", rng)
        assert text.endswith(".") and text[0].isupper() and "my plans changed" in text.lower()
        assert text.count(".") == 1
    assert lower_first("I moved house") == "I moved house"
    assert lower_first("My parcel is late") == "my parcel is late"
    assert lower_first("NASA cancelled my tour") == "NASA cancelled my tour"


def test_a_push_back_insists_and_gives_the_reason_again() -> None:
    lines = {push_back_line("my trip was called off", script_rng("p", i)) for i in range(30)}
    assert len(lines) >= 4
    assert all("my trip was called off" in line.lower() for line in lines)


def test_a_change_of_mind_takes_the_first_request_back_and_says_the_final_one() -> None:
    for i in range(20):
        line = change_of_mind_line("Please cancel my order for The Blue Atlas.", script_rng("c", i))
        assert "cancel my order for The Blue Atlas." in line
        assert line.split(".")[0] != "Please cancel my order for The Blue Atlas"  # something takes the first back


def test_held_back_rows_are_named_vaguely_and_said_exactly_when_asked() -> None:
    names = {
        "ORD-0001": ("order", "my order placed on 2026-03-02"),
        "PRD-0003": ("product", "the product called The Blue Atlas"),
        "CUS-0001": ("customer", "my profile"),
    }
    requests = ["My order placed on 2026-03-02 should have 3 items.", "I'd like to order 2 of the product called The Blue Atlas."]
    said, hidden = hold_back_rows(RETAIL, names, requests, "customer")
    assert said == ["One of my orders should have 3 items.", "I'd like to order 2 of a product."]
    assert hidden == {"order": "It's my order placed on 2026-03-02.", "product": "It's the product called The Blue Atlas."}


def test_two_rows_of_one_kind_stay_named_since_one_answer_could_not_tell_them_apart() -> None:
    names = {"ORD-0001": ("order", "my order placed on 2026-03-02"), "ORD-0002": ("order", "my order placed on 2026-03-05")}
    requests = ["Please cancel my order placed on 2026-03-02.", "Please cancel my order placed on 2026-03-05."]
    assert hold_back_rows(RETAIL, names, requests, "customer") == (requests, {})
