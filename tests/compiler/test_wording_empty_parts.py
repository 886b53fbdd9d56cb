"""An empty optional value is left out of a request's wording, with the comma that went with it."""

from __future__ import annotations

import random

from scaleenv_mcp.spec.model import ParamSpec, ToolSpec
from scaleenv_mcp.tasks.wording import items_phrase, request, row_description

TOOL = ToolSpec.model_validate(
    {
        "description": "Change the delivery address of an order.",
        "params": {
            "street": {"type": "string"},
            "line2": {"type": "string", "required": False},
            "city": {"type": "string"},
        },
        "phrasings": ["Please send it to {street}, {line2}, {city}."],
    }
)


def said(args: dict[str, str]) -> str:
    return request("change_address", TOOL, args, {}, [], persona_noun=None, field_of={}, rng=random.Random(0))


def test_an_empty_optional_field_leaves_no_empty_slot_in_a_phrasing() -> None:
    assert said({"street": "198 Maple Street", "line2": "", "city": "Osaka"}) == "Please send it to 198 Maple Street, Osaka."
    assert said({"street": "198 Maple Street", "line2": "Flat 4", "city": "Osaka"}) == "Please send it to 198 Maple Street, Flat 4, Osaka."


def test_empty_values_are_skipped_in_list_items_and_row_descriptions() -> None:
    fields = {"street": {"type": "string"}, "line2": {"type": "string", "required": False}, "floor": {"type": "int", "required": False}}
    param = ParamSpec.model_validate({"type": "list", "max_items": 2, "fields": fields})
    assert items_phrase(param, [{"street": "198 Maple Street", "line2": "", "floor": 3}]) == "198 Maple Street (floor 3)"
    assert row_description("order", True, ["placed on 2026-03-01", "", "for Osaka"]) == "my order placed on 2026-03-01, for Osaka"
