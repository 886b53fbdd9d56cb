from __future__ import annotations

from pathlib import Path

import yaml

from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.spec import parse_blueprint
from scaleenv_mcp.spec.model import DomainSpec

ROOT = Path(__file__).resolve().parents[2]


def pending_order(state, status: str = "pending") -> dict:  # type: ignore[no-untyped-def]
    return next(o for o in state.rows("order") if o["status"] == status)


def test_a_write_applies_every_declared_effect(retail: DomainSpec) -> None:
    state = seed_state(retail)
    order = pending_order(state, "paid")
    customer = state.get("customer", order["customer_id"])
    product = state.get("product", order["product_id"])
    result = execute(state, "cancel_order", {"order_id": order["id"]})
    assert result.ok and result.data is not None
    assert result.data["status"] == "cancelled"
    assert state.get("customer", customer["id"])["store_credit"] == round(customer["store_credit"] + order["total"], 2)
    assert state.get("product", product["id"])["stock"] == product["stock"] + order["quantity"]


def test_a_broken_rule_fails_with_the_policy_message_and_changes_nothing(retail: DomainSpec) -> None:
    state = seed_state(retail)
    before = state.snapshot()
    shipped = pending_order(state, "shipped")
    result = execute(state, "pay_order", {"order_id": shipped["id"], "method": "card"})  # a rule the tool keeps
    assert not result.ok and result.error is not None
    assert result.error.code == "precondition_failed"
    assert "Only pending orders can be paid" in result.error.message
    assert result.error.details["values"] == {"order.status": "shipped"}
    assert state.snapshot() == before


def test_bad_arguments_are_reported_precisely_and_change_nothing(retail: DomainSpec) -> None:
    state = seed_state(retail)
    before = state.snapshot()
    cases = {
        "missing": ({}, "missing required argument 'order_id'"),
        "wrong type": ({"order_id": 7}, "order_id: 7 is not of type 'string'"),
        "extra": ({"order_id": "ORD-0001", "force": True}, "unexpected argument(s) 'force'; allowed: order_id"),
        "not an object": ("ORD-0001", "arguments must be an object"),
    }
    for label, (args, message) in cases.items():
        result = execute(state, "cancel_order", args)
        assert result.error is not None and result.error.code == "invalid_arguments", label
        assert message in result.error.message, (label, result.error.message)
    unknown = execute(state, "cancel_order", {"order_id": "ORD-9999"})
    assert unknown.error is not None and unknown.error.code == "not_found"
    assert "no order with id 'ORD-9999'" in unknown.error.message
    tool = execute(state, "drop_database", {})
    assert tool.error is not None and tool.error.code == "unknown_tool" and "cancel_order" in tool.error.message
    assert state.snapshot() == before


def test_an_effect_that_fails_midway_rolls_back_the_effects_before_it() -> None:
    data = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    # A deliberately broken rule set: the last effect drives store credit below its minimum of 0.
    data["tools"]["cancel_order"]["effects"].append("customer.store_credit -= 100000")
    spec = parse_blueprint(data)
    state = seed_state(spec)
    before = state.snapshot()
    order = pending_order(state)
    result = execute(state, "cancel_order", {"order_id": order["id"]})
    assert result.error is not None and result.error.code == "constraint_violation"
    assert "customer.store_credit" in result.error.message and "below its minimum" in result.error.message
    assert state.snapshot() == before


def test_lookups_match_email_case_insensitively(retail: DomainSpec) -> None:
    state = seed_state(retail)
    customer = state.rows("customer")[3]
    result = execute(state, "find_customer_by_email", {"email": customer["email"].upper()})
    assert result.ok and result.data == customer


def test_search_filters_skip_absent_optional_parameters(retail: DomainSpec) -> None:
    state = seed_state(retail)
    customer_id = pending_order(state)["customer_id"]
    everything = execute(state, "list_customer_orders", {"customer_id": customer_id}).data
    pending = execute(state, "list_customer_orders", {"customer_id": customer_id, "status": "pending"}).data
    assert everything is not None and pending is not None
    mine = [o for o in state.rows("order") if o["customer_id"] == customer_id]
    assert everything["count"] == len(mine)
    assert pending["count"] == sum(o["status"] == "pending" for o in mine) >= 1
    hostile = execute(state, "search_products", {"name_contains": "%' OR 1=1 --"}).data
    assert hostile == {"items": [], "count": 0, "truncated": False}


from typing import Any  # noqa: E402

import pytest  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

from scaleenv_mcp.spec.model import ParamSpec  # noqa: E402
from scaleenv_mcp.spec.types import NUMERIC, conforms, normalize  # noqa: E402

from ..conftest import SHIPPED, shipped_spec  # noqa: E402

# Every other JSON type, and the numbers JSON cannot carry but Python callers can pass.
_ANY_TYPE: list[Any] = [None, True, False, 0, 1, -1, 2.5, float("inf"), float("-inf"), float("nan"), "", "x", [], {}, ["x"], {"a": 1}]
_DATES = ["2026-03-16", "2024-02-29", "2026-02-29", "2026-02-30", "2026-13-01", "2026-3-16", "20260316", "2026-03-16T10:00:00", " 2026-03-16"]
_DATETIMES = ["2026-03-16T10:00", "2026-03-16T10:00:00", "2026-03-16 10:00", "2026-03-16T10:00:00Z", "2026-03-16T1:00", "2026-03-16", "2026-03-16T10:00:00.5"]


def _valid(p: ParamSpec) -> Any:
    """One value the schema accepts, at the parameter's lower limit where it has one."""
    if p.type == "list":
        item = _valid(p.items) if p.items is not None else {n: _valid(f) for n, f in (p.fields or {}).items() if f.required}
        return [item] * max(p.min_items, 1)
    return {"int": int(p.min if p.min is not None else 1), "float": p.min if p.min is not None else 1.5,
            "money": p.min if p.min is not None else 1.5, "bool": True, "enum": (p.values or ["x"])[0],
            "date": "2026-03-16", "datetime": "2026-03-16T10:00:00"}.get(p.type, "x")  # fmt: skip


def _at_limits(p: ParamSpec) -> tuple[list[Any], list[Any]]:
    """(values at the parameter's limits, which a fast check should say yes to; values at and past every
    limit and of every other type, which it may say yes to only if the schema agrees)."""
    inside: list[Any] = [_valid(p)]
    edges: list[Any] = list(_ANY_TYPE)
    if p.type in NUMERIC:
        step = 1 if p.type == "int" else 0.01
        for bound in (p.min, p.max):
            if bound is not None:
                bound = int(bound) if p.type == "int" else bound
                inside.append(bound)
                edges += [bound - step, bound + step, bound - 1, bound + 1, float(bound)]
        edges += [10**12, -(10**12), 0.1 + 0.2]
    if p.type == "enum":
        inside += list(p.values or [])
        edges += [v.upper() for v in p.values or []] + [f"{v} " for v in p.values or []] + ["not-a-value"]
    if p.max_length is not None:
        inside.append("a" * p.max_length if p.type != "enum" else _valid(p))
        edges += ["a" * (p.max_length + 1), "é" * (p.max_length + 1), "a" * (p.max_length - 1)]
    if p.type == "date":
        inside.append("2024-02-29")
        edges += _DATES
    if p.type == "datetime":
        inside.append("2026-03-16T10:00")
        edges += _DATETIMES
    if p.type == "ref":
        edges += ["ORD-0001", "ord-0001", "x" * 300, "\x00", 1001]
    if p.type == "list":
        item = _valid(p)[0]
        top = p.max_items or 4
        edges += [[], [item] * max(p.min_items - 1, 0), [item] * top, [item] * (top + 1), "x", [None], [item, 7], {"0": item}]
        inside[:] = [[item] * max(p.min_items, 1), [item] * top]  # a list at its limits takes the fast path too
        if isinstance(item, dict):  # an object item with a key too many, one missing, a null, a wrong type
            edges += [[{**item, "extra": 1}], *([{k: v for k, v in item.items() if k != n}] for n in item), [dict.fromkeys(item)]]
            edges += [[{k: [v] for k, v in item.items()}]]
    return inside, edges


_PARAMS = [(d, t, n) for d in SHIPPED for t, tool in shipped_spec(d).tools.items() for n in tool.params]


def _check_at_limits(params: list[tuple[str, ParamSpec]]) -> int:
    """Assert the fast check on each parameter at and past its limits; return how often it said yes."""
    yes = 0
    for where, param in params:
        schema = Draft202012Validator(param.json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
        inside, edges = _at_limits(param)
        for value in inside:
            assert schema.is_valid(value) and conforms(param, value), (where, value)
        for value in edges:
            if conforms(param, value):
                yes += 1
                assert schema.is_valid(value), (where, value)
    return yes


@pytest.mark.parametrize("domain", SHIPPED)
def test_the_fast_argument_check_says_yes_only_where_the_schema_does_at_every_parameters_limits(domain: str) -> None:
    """``conforms`` skips jsonschema on the hot path, so a false yes would let a bad argument through
    unchecked. Each parameter of every shipped tool is tried at and just past each of its own limits
    (min, max, max_length, each enum value and its near misses, real and impossible dates, list sizes)
    and with every other JSON type; values at the limits must take the fast path, so the check is
    exercised where it matters, not only where it says no."""
    params = [(f"{t}.{n}", p) for t, tool in shipped_spec(domain).tools.items() for n, p in tool.params.items()]
    assert _check_at_limits(params) >= len(params)  # the assertion is reached, not skipped


def test_the_fast_argument_check_holds_for_every_parameter_type_and_limit_a_blueprint_can_declare() -> None:
    """The same on every type with and without each limit, so a type no shipped tool uses yet (a
    datetime, a bounded ref, text) is covered before a blueprint brings it."""
    variants: list[dict[str, Any]] = [{}, {"max_length": 5}]
    numeric: list[dict[str, Any]] = [{}, {"min": 0}, {"max": 10}, {"min": -2.5, "max": 99.99}, {"min": 1, "max": 1}]
    params: list[tuple[str, ParamSpec]] = []
    for type_ in ("string", "text", "date", "datetime", "ref", "enum", "bool", "int", "float", "money"):
        extra: dict[str, Any] = {"ref": "order"} if type_ == "ref" else {"values": ["open", "closed", "on_hold"]} if type_ == "enum" else {}
        for limits in numeric if type_ in NUMERIC else variants if type_ in ("string", "text", "ref") else [{}]:
            if type_ == "int" and any(isinstance(v, float) for v in limits.values()):
                continue
            params.append((f"{type_} {limits}", ParamSpec(type=type_, **extra, **limits)))  # type: ignore[arg-type]
    params.append(("list of refs", ParamSpec(type="list", items=ParamSpec(type="ref", ref="flight"), min_items=2, max_items=3)))
    params.append(("list of objects", ParamSpec(type="list", fields={"n": ParamSpec(type="int", min=1, max=9)}, max_items=2)))
    assert _check_at_limits(params) >= len(params)


@pytest.mark.parametrize("domain", SHIPPED)
def test_a_value_the_fast_check_passes_is_already_what_normalize_returns(domain: str) -> None:
    """The runtime skips ``normalize`` for a value the fast check passed, except money (rounded to
    cents), date-times (normalize also checks the date is real) and lists (each item): for every
    other parameter, at and past its limits, a passed value must already be its stored form."""
    checked = 0
    for tool_name, tool in shipped_spec(domain).tools.items():
        for name, param in tool.params.items():
            if param.type in ("money", "datetime", "list"):
                continue
            inside, edges = _at_limits(param)
            for value in [*inside, *edges]:
                if conforms(param, value):
                    stored = normalize(name, param, value)
                    assert stored == value and type(stored) is type(value), (tool_name, name, value)
                    checked += 1
    assert checked > 0


@pytest.mark.parametrize("domain", SHIPPED)
def test_whole_argument_objects_at_the_limits_take_the_fast_path_only_when_the_schema_accepts_them(domain: str) -> None:
    """The runtime's fast path: every key a parameter and every value conforming. Missing required
    arguments, extra keys and one parameter at a time at its edges, on a tool's full schema."""
    spec = shipped_spec(domain)
    for tool_name, tool in spec.tools.items():
        schema = Draft202012Validator(tool.input_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
        base = {n: _valid(p) for n, p in tool.params.items()}
        assert schema.is_valid(base), (tool_name, base)
        cases = [{**base, "extra": 1}, *({k: v for k, v in base.items() if k != n} for n in tool.params)]
        cases += [{**base, n: v} for n, p in tool.params.items() for v in _at_limits(p)[1]]
        for arguments in cases:
            fast = all(k in tool.params for k in arguments) and all(
                conforms(p, arguments[n]) if n in arguments else not p.required for n, p in tool.params.items()
            )
            if fast:
                assert schema.is_valid(arguments), (tool_name, arguments)


def test_a_string_is_never_taken_for_a_list_argument() -> None:
    """Found by the limits test above: the fast check once said yes to a string for a list parameter, so
    ``quote_trip(flight_ids="")`` quoted an empty trip and an id was read as a list of its characters."""
    spec = shipped_spec("airline")
    state = seed_state(spec)
    before = state.snapshot()
    flight = state.rows("flight")[0]["id"]
    for value in ("", flight):
        result = execute(state, "quote_trip", {"flight_ids": value, "cabin": "economy", "passengers": 1, "insurance": False})
        assert result.error is not None and result.error.code == "invalid_arguments", result
        assert "is not of type 'array'" in result.error.message
    assert execute(state, "quote_trip", {"flight_ids": [flight], "cabin": "economy", "passengers": 1, "insurance": False}).ok
    assert state.snapshot() == before


def _with_tool(name: str, tool: dict) -> DomainSpec:  # type: ignore[type-arg]
    data = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["tools"][name] = tool
    return parse_blueprint(data)


CANCEL_WITH_FEE = {
    "description": "Cancel a pending or paid order for a fee of a tenth of its total; a paid order is refunded as a refund payment.",
    "params": {"order_id": {"type": "ref", "ref": "order"}},
    "bind": {"customer": "order.customer_id"},
    "let": {"fee": "round(order.total * 0.1, 2)", "refund": "order.total - fee"},
    "requires": [
        {"check": "order.status in ['pending', 'paid']", "error": "Only pending or paid orders can be cancelled."},
        {"check": "customer.store_credit >= fee", "error": "The cancellation fee needs store credit."},
    ],
    "effects": [
        "customer.store_credit -= fee",
        {"create": "payment", "when": "order.status == 'paid'",
         "values": {"order_id": "order.id", "kind": "'refund'", "amount": "refund", "method": "'store_credit'", "paid_on": "today"}},
        "order.status = 'cancelled'",
    ],
    "returns": "order",
}  # fmt: skip


def test_local_values_and_a_conditional_create() -> None:
    """`let` names a value once (the fee) for rules and effects; `when` creates the refund only for a paid order."""
    spec = _with_tool("cancel_with_fee", CANCEL_WITH_FEE)
    state = seed_state(spec)
    for status, refunds in (("paid", 1), ("pending", 0)):
        paid_for = {p["order_id"] for p in state.rows("payment")}  # one payment per order: a refund needs one without
        order = next(o for o in state.rows("order") if o["status"] == status and o["id"] not in paid_for
                     and state.get("customer", o["customer_id"])["store_credit"] >= round(o["total"] * 0.1, 2))  # fmt: skip
        credit = state.get("customer", order["customer_id"])["store_credit"]
        before = len(state.rows("payment"))
        result = execute(state, "cancel_with_fee", {"order_id": order["id"]})
        assert result.ok, result.error
        fee = round(order["total"] * 0.1, 2)
        assert state.get("customer", order["customer_id"])["store_credit"] == round(credit - fee, 2)
        new = state.rows("payment")[before:]
        assert len(new) == refunds and all(p["amount"] == round(order["total"] - fee, 2) and p["kind"] == "refund" for p in new)
    assert spec.view("cancel_with_fee").reads["order"] >= {"total", "status"}  # read through `let` and `when`


def test_a_local_value_that_cannot_be_worked_out_fails_the_call_and_changes_nothing() -> None:
    spec = _with_tool("cancel_with_fee", {**CANCEL_WITH_FEE, "let": {"fee": "order.total / 0", "refund": "order.total"}})
    state = seed_state(spec)
    order = next(o for o in state.rows("order") if o["status"] == "paid")
    before = state.dump()
    result = execute(state, "cancel_with_fee", {"order_id": order["id"]})
    assert not result.ok and result.error is not None and "cannot work out fee" in result.error.message
    assert state.dump() == before


def test_broken_local_values_and_conditions_are_refused_with_their_path() -> None:
    import pytest

    from scaleenv_mcp.spec import BlueprintError

    cases = [
        ({**CANCEL_WITH_FEE, "let": {"order": "1"}}, "tools.t.let.order", "already a parameter or a row"),
        ({**CANCEL_WITH_FEE, "let": {"fee": "order.totl * 0.1", "refund": "1"}}, "tools.t.let.fee", "unknown field 'totl'"),
        ({**CANCEL_WITH_FEE, "effects": [{**CANCEL_WITH_FEE["effects"][1], "when": "order.stat == 'paid'"}]},  # type: ignore[dict-item]
         "tools.t.effects[0].when", "unknown field 'stat'"),
        ({**QUOTE, "compute": {"total": "product.prize * quantity"}}, "tools.t.compute.total", "unknown field 'prize'"),
        ({**QUOTE, "returns": "product"}, "tools.t.compute", "either computed values or rows"),
    ]  # fmt: skip
    for tool, path, message in cases:
        with pytest.raises(BlueprintError) as caught:
            _with_tool("t", tool)
        assert any(p.path == path and message in p.message for p in caught.value.problems), caught.value.problems


QUOTE = {
    "description": "Quote an order of a product before placing it: subtotal, bulk discount and total.",
    "params": {"product_id": {"type": "ref", "ref": "product"}, "quantity": {"type": "int", "min": 1, "max": 50}},
    "let": {"subtotal": "product.price * quantity"},
    "requires": [{"check": "product.active", "error": "This product is no longer sold."}],
    "compute": {"subtotal": "round(subtotal, 2)", "discount": "round(subtotal * 0.1, 2) if quantity >= 10 else 0",
                "total": "round(subtotal * 0.9, 2) if quantity >= 10 else round(subtotal, 2)", "in_stock": "product.stock >= quantity"},
}  # fmt: skip


async def test_a_tool_may_return_a_computed_answer_instead_of_a_row() -> None:
    """A quote (a calculator) returns values worked out from the state, typed in its output schema,
    changes nothing, passes the gate like any tool, and is served over MCP with that schema."""
    from mcp import Client

    import scaleenv_mcp as se
    from scaleenv_mcp.serving import build_server

    spec = _with_tool("quote_order", QUOTE)
    state = seed_state(spec)
    product = next(p for p in state.rows("product") if p["active"])
    before = state.dump()
    result = execute(state, "quote_order", {"product_id": product["id"], "quantity": 10})
    assert result.ok and result.data is not None, result.error
    sub = round(product["price"] * 10, 2)
    assert result.data == {"subtotal": sub, "discount": round(sub * 0.1, 2), "total": round(sub * 0.9, 2),
                           "in_stock": product["stock"] >= 10}  # fmt: skip
    assert state.dump() == before
    schema = spec.view("quote_order").output_schema
    assert schema["properties"]["total"] == {"type": ["number", "null"]} and schema["properties"]["in_stock"] == {"type": ["boolean", "null"]}
    domain = se.compile_blueprint(spec, tasks=0)
    assert domain.report is not None and domain.report.passed
    async with Client(build_server(spec)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["quote_order"].output_schema == schema
        called = await client.call_tool("quote_order", {"product_id": product["id"], "quantity": 10})
        assert not called.is_error and called.structured_content == result.data


def test_a_row_returned_with_the_rows_joined_to_it() -> None:
    """An order with its payments and return requests, in one call; the output schema says so,
    and the gate holds the tool to it."""
    import scaleenv_mcp as se

    order_with = {
        "description": "Get an order with its payments and its return requests.",
        "params": {"order_id": {"type": "ref", "ref": "order"}},
        "include": {"payments": {"entity": "payment", "by": {"order_id": "order.id"}, "order_by": "paid_on"},
                    "returns": {"entity": "return_request", "by": {"order_id": "order.id"}, "limit": 5}},
    }  # fmt: skip
    spec = _with_tool("get_order_in_full", order_with)
    state = seed_state(spec)
    paid = {p["order_id"] for p in state.rows("payment")}
    order = next(o for o in state.rows("order") if o["id"] in paid)
    result = execute(state, "get_order_in_full", {"order_id": order["id"]})
    assert result.ok and result.data is not None
    assert result.data["id"] == order["id"] and result.data["status"] == order["status"]
    assert result.data["payments"] == [p for p in state.rows("payment") if p["order_id"] == order["id"]]
    assert result.data["returns"] == [r for r in state.rows("return_request") if r["order_id"] == order["id"]][:5]
    schema = spec.view("get_order_in_full").output_schema
    assert schema["properties"]["payments"]["type"] == "array" and "payments" in schema["required"]
    domain = se.compile_blueprint(spec, tasks=0)
    assert domain.report is not None and domain.report.passed


def test_broken_joins_are_refused_with_their_path() -> None:
    import pytest

    from scaleenv_mcp.spec import BlueprintError

    base = {"description": "Get an order with its payments.", "params": {"order_id": {"type": "ref", "ref": "order"}}}
    cases = [
        ({**base, "include": {"payments": {"entity": "paymant", "by": {"order_id": "order.id"}}}}, "tools.t.include.payments.entity",
         "unknown entity 'paymant'"),
        ({**base, "include": {"payments": {"entity": "payment", "by": {"order": "order.id"}}}}, "tools.t.include.payments.by.order",
         "unknown field 'order' of payment"),
        ({**base, "include": {"payments": {"entity": "payment", "by": {"order_id": "order.number"}}}},
         "tools.t.include.payments.by.order_id", "unknown field 'number'"),
        ({**base, "include": {"status": {"entity": "payment", "by": {"order_id": "order.id"}}}}, "tools.t.include.status",
         "is a field of the returned row"),
    ]  # fmt: skip
    for tool, path, message in cases:
        with pytest.raises(BlueprintError) as caught:
            _with_tool("t", tool)
        assert any(p.path == path and message in p.message for p in caught.value.problems), caught.value.problems
