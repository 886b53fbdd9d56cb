"""Shipped instructions read like people: no column names, no snake_case values, no "with X Y";
and a blueprint's phrasings are checked like the rest of the blueprint."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

import scaleenv_mcp as se
from scaleenv_mcp.spec.catalog import domain_names
from scaleenv_mcp.spec.load import parse_blueprint
from scaleenv_mcp.spec.paths import ProjectPaths
from scaleenv_mcp.spec.problems import BlueprintError

from ..conftest import ROOT

EMAIL = re.compile(r"\S+@\S+")
SNAKE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")


def shipped(paths: ProjectPaths) -> list[tuple[str, str, Any]]:
    domains = [se.load(d) for d in domain_names(paths)]
    return [(d.name, t.instruction, d.spec) for d in domains for t in d.tasks]


def test_no_shipped_instruction_reads_like_a_column(paths: ProjectPaths) -> None:
    problems: list[str] = []
    tasks = shipped(paths)
    for domain, text, spec in tasks:
        if SNAKE.search(EMAIL.sub("", text)):
            problems.append(f"{domain}: snake_case in {text!r}")
        for entity in spec.entities.values():
            for fname in entity.fields:
                raw = fname.removesuffix("_id").replace("_", " ")
                authored = f"with {raw} " in (entity.fields[fname].mention or "")  # the blueprint words it so ("with reference {value}")
                if not authored and re.search(rf"\bwith {re.escape(raw)} \S", text):
                    problems.append(f"{domain}: 'with {raw} ...' in {text!r}")
                if "_" in fname and re.search(rf"\bthe {re.escape(raw)}\b", text) and fname.endswith(("_on", "_at")):
                    problems.append(f"{domain}: the raw field {fname} in {text!r}")
        if re.search(r"\b(a|an) \w+ (on|at) of\b|\bof (my|the) \w+ \(", text):
            problems.append(f"{domain}: templated phrase in {text!r}")
        if re.search(r"(?<![\d.,])\b1 (?!\w+ss\b)\w{3,}s\b", text):
            problems.append(f"{domain}: one of a plural in {text!r}")
        if re.search(r"\bthe (\w+) \1\b|\bI (delivered|shipped|granted|opened)\b", text):
            problems.append(f"{domain}: a doubled word or a verb the user did not do in {text!r}")
    assert len(tasks) >= 300
    assert not problems, "\n".join(problems[:20])


def test_every_write_tool_of_a_shipped_blueprint_has_phrasings(paths: ProjectPaths) -> None:
    missing = [f"{d}.{n}" for d in domain_names(paths) for n, t in se.load(d).spec.tools.items() if t.is_write and len(t.phrasings) < 2]
    assert not missing


def test_phrasings_vary_by_seed(paths: ProjectPaths) -> None:
    """Two tasks that make the same call with a tool of two phrasings do not all read the same."""
    starts: dict[str, set[str]] = {}
    for domain, text, _ in shipped(paths):
        request = text.split(". ", 1)[-1]
        starts.setdefault(domain, set()).add(" ".join(request.split()[:2]))
    assert all(len(s) >= 5 for s in starts.values()), {d: len(s) for d, s in starts.items()}


def retail() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    return data


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (lambda d: d["tools"]["cancel_order"].__setitem__("phrasings", ["cancel {order}"]), "tools.cancel_order.phrasings[0]",
         "unknown slot {order}; did you mean {order_id}?"),
        (lambda d: d["tools"]["cancel_order"].__setitem__("phrasings", ["cancel {order_id"]), "tools.cancel_order.phrasings[0]",
         "a stray brace"),
        (lambda d: d["entities"]["order"]["fields"]["placed_on"].__setitem__("question", "When was {row} placed?"),
         "entities.order.fields.placed_on.question", "the only slot of a question is {it}"),
        (lambda d: d["entities"]["order"]["fields"]["status"].__setitem__("value_phrases", {"lost": "gone"}),
         "entities.order.fields.status.value_phrases.lost", "unknown value 'lost'"),
        (lambda d: d["entities"]["order"]["fields"]["total"].__setitem__("value_phrases", {"x": "y"}),
         "entities.order.fields.total.value_phrases", "'value_phrases' is for enum fields"),
        (lambda d: d["entities"]["order"]["fields"]["placed_on"].__setitem__("mention", "placed in the past"),
         "entities.order.fields.placed_on.mention", "a mention places the value as {value}"),
    ],
)  # fmt: skip
def test_a_phrasing_that_names_an_unknown_slot_or_value_is_refused_with_its_path(edit: Any, path: str, message: str) -> None:
    data = retail()
    edit(data)
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data, "retail.yaml")
    assert any(p.path == path and message in p.message for p in caught.value.problems), caught.value.problems


README_SAMPLE_DOMAINS = (
    "airline", "car_rental", "clinic_appointments", "event_ticketing", "food_delivery", "hotel", "it_helpdesk",
    "library_loans", "retail", "retail_banking", "telecom_plans", "university_enrollment",
)  # fmt: skip
"""the twelve domains the README's sample is drawn from, as shipped: a domain a user compiles into
this project joins manifests/index.json but not the sample, so the fast tier stays green"""


def test_the_readme_sample_is_twelve_shipped_instructions_drawn_as_it_says(paths: ProjectPaths) -> None:
    import random

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- sample-instructions -->")[1].split("<!-- /sample-instructions -->")[0]
    quoted = re.findall(r"^- `([^`]+)` \((\w+)\): (.+)$", block, flags=re.M)
    assert set(README_SAMPLE_DOMAINS) <= set(domain_names(paths)), "a shipped domain is missing from manifests/index.json"
    tasks = [t for d in README_SAMPLE_DOMAINS for t in se.load(d).tasks]
    drawn = random.Random(2026).sample(tasks, 12)
    assert [(t.id, t.kind, t.instruction) for t in drawn] == [tuple(q) for q in quoted]


def test_conditions_superlatives_and_aggregates_read_as_sentences() -> None:
    from scaleenv_mcp.spec.model import FieldSpec
    from scaleenv_mcp.tasks.wording import count_question, extreme, extreme_date_question, superlative, total_question

    placed = FieldSpec(type="date")
    expires = FieldSpec(type="date")
    total = FieldSpec(type="money")
    fee = FieldSpec(type="money")
    status = FieldSpec(type="enum", values=["pending", "paid"])
    assert superlative("order", "placed_on", placed, latest=True) == "my most recently placed order"
    assert superlative("order", "delivered_on", placed, latest=False) == "the first of my orders to be delivered"
    assert superlative("booking", "booked_on", placed, latest=False) == "my earliest booking"
    assert superlative("prescription", "expires_on", expires, latest=False) == "whichever of my prescriptions expires first"
    assert extreme("order", "total", total, highest=True) == "whichever of my orders has the highest total"
    assert count_question("order", "status", status, "pending") == "How many of my orders are pending?"
    assert total_question("order", "total", total, "pending") == "What do my pending orders come to in total?"
    assert total_question("bag", "fee", fee, None) == "What do the fees of all my bags come to in total?"
    assert extreme_date_question("order", "placed_on", placed, latest=True) == "When was my most recent order placed?"
    assert extreme_date_question("card", "expires_on", expires, latest=False) == "Of all my cards, when does the first one expire?"


def test_a_phrasing_filled_with_one_reads_in_the_singular() -> None:
    import random

    from scaleenv_mcp.spec.model import ToolSpec
    from scaleenv_mcp.tasks.wording import request

    tool = ToolSpec.model_validate({
        "description": "Reserve a room for some nights.",
        "params": {"nights": {"type": "int"}, "guests": {"type": "int"}},
        "phrasings": ["Please book {nights} nights for {guests} guests."],
    })  # fmt: skip
    text = request("reserve", tool, {"nights": 1, "guests": 11}, {}, [], persona_noun=None, field_of={}, rng=random.Random(0))
    assert text == "Please book 1 night for 11 guests."
