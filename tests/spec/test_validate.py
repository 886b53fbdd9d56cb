"""Every validation branch of the spec: one broken retail blueprint each, one problem with its path."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.spec import BlueprintError, load_blueprint, parse_blueprint

ROOT = Path(__file__).resolve().parents[2]
RETAIL: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())

Edit = Callable[[dict[str, Any]], None]


def at(path: str, value: Any) -> Edit:
    """Set a value at a dotted path (``tools.cancel_order.effects[1]``); ``...`` deletes the key."""

    def edit(data: dict[str, Any]) -> None:
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
        node: Any = data
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        last = parts[-1]
        key: Any = int(last[1:-1]) if last.startswith("[") else last
        if value is ...:
            del node[key]
        else:
            node[key] = value

    return edit


def both(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for e in edits:
            e(data)

    return edit


FIELDS = "entities.order.fields"
CASES: list[tuple[str, Edit, str, str]] = [
    # shapes (pydantic)
    ("unknown key", at("tools.get_order.parameters", {}), "tools.get_order.parameters", "unknown key"),
    ("missing key", at("policy", ...), "policy", "required key is missing"),
    ("unknown field type", at(f"{FIELDS}.quantity.type", "integer"), f"{FIELDS}.quantity.type", "'int'"),
    ("field name not snake_case", at("entities.customer.fields.Email", {"type": "string"}), "entities.customer.fields", "must be snake_case"),
    ("declared id", at("entities.customer.fields.id", {"type": "string"}), "entities.customer.fields", "'id' is implicit"),
    ("entity name", at("entities.Customer", RETAIL["entities"]["customer"]), "entities", "must be snake_case"),
    ("tool parameter name", at("tools.get_order.params.OrderId", {"type": "string"}), "tools.get_order.params", "must be snake_case"),
    ("clock", at("clock", "tomorrow"), "clock", "clock must look like"),
    ("id prefix", at("entities.customer.id_prefix", "cus"), "entities.customer.id_prefix", "should match pattern"),
    ("short description", at("tools.get_order.description", "Get."), "tools.get_order.description", "at least 10 characters"),
    ("search filter form", at("tools.list_customer_orders.search.where", ["customer_id is customer_id"]),
     "tools.list_customer_orders.search.where", "must look like 'field == param'"),
    ("unknown sample kind", at("entities.customer.fields.email.sample", "emial"), "entities.customer.fields.email.sample",
     "unknown sample kind 'emial'"),
    ("null rate", at("entities.customer.fields.city.null_rate", 2), "entities.customer.fields.city.null_rate", "less than or equal to 1"),
    # entities
    ("unknown label", at("entities.customer.label", "full_name"), "entities.customer.label", "unknown field 'full_name'"),
    ("unique_together field", at("entities.return_request.unique_together", [["order"]]), "entities.return_request.unique_together",
     "unknown field 'order'"),
    ("near duplicates field", at("entities.customer.near_duplicates", {"count": 2, "vary": ["town"]}),
     "entities.customer.near_duplicates.vary[0]", "unknown field 'town'"),
    ("near duplicates of a derived field", at("entities.order.near_duplicates", {"count": 2, "vary": ["total"]}),
     "entities.order.near_duplicates.vary[0]", "'total' is derived"),
    ("near duplicates count", at("entities.customer.near_duplicates", {"count": 0, "vary": ["city"]}),
     "entities.customer.near_duplicates.count", "greater than or equal to 1"),
    ("seed effect target", at("entities.payment.seed_effects", ["invoice.status = 'paid'"]), "entities.payment.seed_effects[0]",
     "'invoice' is not a row this entity references"),
    ("seed effect field", at("entities.payment.seed_effects", ["order.stauts = 'paid'"]), "entities.payment.seed_effects[0]",
     "unknown field 'stauts' on entity 'order'"),
    ("seed effect syntax", at("entities.payment.seed_effects", ["order.status == 'paid'"]), "entities.payment.seed_effects[0]",
     "must be one assignment"),
    ("seed effect value", at("entities.payment.seed_effects", ["order.status = nothing"]), "entities.payment.seed_effects[0]",
     "unknown name 'nothing'"),
    ("enum default", at(f"{FIELDS}.status.default", "lost"), f"{FIELDS}.status.default", "'lost' is not one of"),
    ("min above max", both(at(f"{FIELDS}.quantity.min", 5), at(f"{FIELDS}.quantity.max", 2)), f"{FIELDS}.quantity",
     "min 5.0 is greater than max 2.0"),
    ("weights count", at("entities.customer.fields.tier.weights", [1, 2]), "entities.customer.fields.tier.weights", "2 weights for 3 values"),
    ("ref_where on a non-ref", at(f"{FIELDS}.quantity.ref_where", "status == 'x'"), f"{FIELDS}.quantity.ref_where",
     "'ref_where' needs a 'ref' field"),
    ("ref_where syntax", at("entities.payment.fields.order_id.ref_where", "status in"), "entities.payment.fields.order_id.ref_where",
     "cannot parse"),
    ("ref_where name", at("entities.payment.fields.order_id.ref_where", "stauts == 'paid'"), "entities.payment.fields.order_id.ref_where",
     "unknown name 'stauts'"),
    ("derive syntax", at(f"{FIELDS}.total.derive", "product.price *"), f"{FIELDS}.total.derive", "cannot parse"),
    ("derive field", at(f"{FIELDS}.total.derive", "product.prize * quantity"), f"{FIELDS}.total.derive", "unknown field 'prize' on entity 'product'"),
    ("ref without target", at(f"{FIELDS}.customer_id", {"type": "ref"}), f"{FIELDS}.customer_id", "a 'ref' needs 'ref: <entity>'"),
    ("ref to unknown entity", at(f"{FIELDS}.customer_id.ref", "client"), f"{FIELDS}.customer_id.ref", "unknown entity 'client'"),
    ("ref on a non-ref type", at(f"{FIELDS}.quantity.ref", "product"), f"{FIELDS}.quantity.ref", "'ref' is only for type 'ref'"),
    ("enum without values", at(f"{FIELDS}.status.values", []), f"{FIELDS}.status", "an 'enum' needs a non-empty 'values' list"),
    # tools: parameters, lookup, search, bind, rules, returns
    ("ref parameter name", at("tools.get_order.params", {"order": {"type": "ref", "ref": "order"}}), "tools.get_order.params.order",
     "must be named <something>_id"),
    ("lookup and search", at("tools.find_customer_by_email.search", {"entity": "customer"}), "tools.find_customer_by_email",
     "either 'lookup' or 'search'"),
    ("lookup entity", at("tools.find_customer_by_email.lookup.entity", "client"), "tools.find_customer_by_email.lookup.entity",
     "unknown entity 'client'"),
    ("lookup field", at("tools.find_customer_by_email.lookup.by", {"mail": "email"}), "tools.find_customer_by_email.lookup.by.mail",
     "unknown field 'mail' of customer"),
    ("lookup parameter", at("tools.find_customer_by_email.lookup.by", {"email": "address"}), "tools.find_customer_by_email.lookup.by.email",
     "unknown parameter 'address'"),
    ("search entity", at("tools.list_customer_orders.search.entity", "orders"), "tools.list_customer_orders.search.entity",
     "unknown entity 'orders'"),
    ("search field", at("tools.list_customer_orders.search.where", ["owner_id == customer_id"]),
     "tools.list_customer_orders.search.where[0]", "unknown field 'owner_id' of order"),
    ("search parameter", at("tools.list_customer_orders.search.where", ["customer_id == client_id"]),
     "tools.list_customer_orders.search.where[0]", "unknown parameter 'client_id'"),
    ("contains on a number", both(at("tools.search_products.params.max_price", {"type": "money", "required": False}),
                                  at("tools.search_products.search.where", ["name contains max_price"])),
     "tools.search_products.search.where[0]", "'contains' needs a text parameter"),
    ("search order", at("tools.list_customer_orders.search.order_by", "date"), "tools.list_customer_orders.search.order_by",
     "unknown field 'date' of order"),
    ("search with effects", at("tools.list_customer_orders.effects", ["order.status = 'paid'"]), "tools.list_customer_orders.effects",
     "read-only"),
    ("bind syntax", at("tools.pay_order.bind.customer", "order.customer_id +"), "tools.pay_order.bind.customer", "cannot parse"),
    ("bind not a ref", at("tools.pay_order.bind.customer", "order.total"), "tools.pay_order.bind.customer",
     "must be a ref parameter or a ref field"),
    ("rule syntax", at("tools.pay_order.requires[0].check", "order.status =="), "tools.pay_order.requires[0].check", "cannot parse"),
    ("rule reads an unbound row", at("tools.pay_order.requires[0].check", "invoice.status == 'pending'"),
     "tools.pay_order.requires[0].check", "unknown name 'invoice'"),
    ("rule reads a value as a row", at("tools.pay_order.requires[0].check", "method.kind == 'card'"), "tools.pay_order.requires[0].check",
     "'method' is a value, not a row"),
    ("rule reads an unknown field", at("tools.pay_order.requires[0].check", "order.stauts == 'pending'"),
     "tools.pay_order.requires[0].check", "unknown field 'stauts' on entity 'order'"),
    ("rule queries an unknown entity", at("tools.open_return.requires[2].check", "not exists('returns', order_id=order.id)"),
     "tools.open_return.requires[2].check", "unknown entity 'returns'"),
    ("rule queries an unknown field", at("tools.open_return.requires[2].check", "not exists('return_request', order=order.id)"),
     "tools.open_return.requires[2].check", "unknown field 'order' of 'return_request'"),
    ("rule calls an unknown function", at("tools.pay_order.requires[0].check", "upper(order.status) == 'PENDING'"),
     "tools.pay_order.requires[0].check", "unknown function 'upper'"),
    ("returns a value", at("tools.pay_order.returns", "method"), "tools.pay_order.returns", "'method' is not a row variable"),
    ("returns nothing", at("tools.echo", {"description": "Say something back.", "params": {"text": {"type": "string"}}}),
     "tools.echo", "a tool must return something"),
    # effects
    ("effect syntax", at("tools.cancel_order.effects[2]", "order.status == 'cancelled'"), "tools.cancel_order.effects[2]",
     "must be one assignment"),
    ("effect on an unbound row", at("tools.cancel_order.effects[2]", "invoice.status = 'cancelled'"), "tools.cancel_order.effects[2]",
     "'invoice' is not a row this tool has bound"),
    ("effect on an unknown field", at("tools.cancel_order.effects[1]", "product.stok += order.quantity"), "tools.cancel_order.effects[1]",
     "unknown field 'stok' on entity 'product'"),
    ("+= on text", at("tools.cancel_order.effects[2]", "order.status += 'x'"), "tools.cancel_order.effects[2]", "+= needs a number field"),
    ("effect of the wrong type", at("tools.cancel_order.effects[2]", "order.status = 3"), "tools.cancel_order.effects[2]",
     "order.status is enum but '3' gives a number"),
    ("enum value outside the values", at("tools.cancel_order.effects[2]", "order.status = 'canceled'"), "tools.cancel_order.effects[2]",
     "'canceled' is not a value of order.status"),
    ("null into a non-nullable field", at("tools.cancel_order.effects[2]", "order.status = None"), "tools.cancel_order.effects[2]",
     "order.status is not nullable"),
    ("effect reads an unknown name", at("tools.cancel_order.effects[1]", "product.stock += amount"), "tools.cancel_order.effects[1]",
     "unknown name 'amount'"),
    ("create of an unknown entity", at("tools.place_order.effects[1].create", "orders"), "tools.place_order.effects[1].create",
     "unknown entity 'orders'"),
    ("create of an unknown field", at("tools.place_order.effects[1].values.qty", "quantity"), "tools.place_order.effects[1].values.qty",
     "unknown field 'qty' on entity 'order'"),
    ("create value syntax", at("tools.place_order.effects[1].values.quantity", "quantity +"),
     "tools.place_order.effects[1].values.quantity", "cannot parse"),
    ("create without a required field", at("tools.place_order.effects[1].values.quantity", ...), "tools.place_order.effects[1].values",
     "field 'quantity' has no value and no default"),
    ("unquoted enum value", at("tools.place_order.effects[1].values.status", "pending"), "tools.place_order.effects[1].values.status",
     "to use the value write \"'pending'\" in quotes"),
    ("delete an unbound row", at("tools.cancel_order.effects[2]", {"delete": "invoice"}), "tools.cancel_order.effects[2].delete",
     "'invoice' is not a row this tool has bound"),
]


@pytest.mark.parametrize(("label", "edit", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_broken_blueprint_names_the_path_and_what_is_wrong(label: str, edit: Edit, path: str, message: str) -> None:
    data = copy.deepcopy(RETAIL)
    edit(data)
    with pytest.raises(BlueprintError) as info:
        parse_blueprint(data, "broken.yaml")
    problems = [str(p) for p in info.value.problems]
    assert any(p.startswith(path) and message in p for p in problems), problems
    assert str(info.value).startswith("broken.yaml: invalid blueprint")


def test_the_unbroken_blueprint_is_valid() -> None:
    assert parse_blueprint(copy.deepcopy(RETAIL)).name == "retail"


@pytest.mark.parametrize(
    ("data", "message"),
    [([1, 2], "(top): expected a mapping"), ("name: x", "(top): expected a mapping"), (None, "(top): expected a mapping")],
)
def test_a_blueprint_that_is_not_a_mapping_is_refused(data: Any, message: str) -> None:
    with pytest.raises(BlueprintError, match=re.escape(message)):
        parse_blueprint(data)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BlueprintError) as info:
        load_blueprint(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(info.value) and "(file): cannot read" in str(info.value)


def test_a_row_set_is_written_once_and_each_use_is_that_set() -> None:
    """airline names a reservation's segments once (row_sets) and four tools go over them by that name."""
    import yaml

    from scaleenv_mcp.spec import parse_blueprint
    from scaleenv_mcp.spec.model import IncludeSpec
    from scaleenv_mcp.spec.problems import BlueprintError

    from ..conftest import ROOT

    data = yaml.safe_load((ROOT / "synthesis" / "domains" / "airline.yaml").read_text())
    spec = parse_blueprint(data, "airline.yaml")
    segments = spec.row_sets["reservation_segments"]
    uses = [r.for_each for t in spec.tools.values() for r in t.requires] + [loop.for_each for t in spec.tools.values() for loop in t.loops]
    assert sum(isinstance(u, IncludeSpec) and u == segments for u in uses) == 5
    for rule in data["tools"]["add_insurance"]["requires"]:
        if rule.get("for_each") == "reservation_segments":
            rule["for_each"] = "reservation_segmnts"
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data, "airline.yaml")
    assert any("did you mean 'reservation_segments'" in p.message for p in caught.value.problems)
