from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from scaleenv_mcp.engine import diff, execute, seed_state
from scaleenv_mcp.engine.state import State
from scaleenv_mcp.spec.model import DomainSpec


def test_seeding_is_deterministic_and_consistent(retail: DomainSpec) -> None:
    a, b = seed_state(retail), seed_state(retail)
    assert a.snapshot() == b.snapshot()
    assert seed_state(retail, seed=99).snapshot() != a.snapshot()
    products = {p["id"]: p for p in a.rows("product")}
    for order in a.rows("order"):
        assert order["total"] == round(products[order["product_id"]]["price"] * order["quantity"], 2)
    orders = {o["id"]: o for o in a.rows("order")}
    assert all(orders[p["order_id"]]["status"] in ("paid", "shipped", "delivered") for p in a.rows("payment"))
    assert a.integrity_problems() == []


def test_fork_and_restore_isolate_changes(retail: DomainSpec) -> None:
    state = seed_state(retail)
    initial = state.snapshot()
    fork = state.fork()
    order = next(o for o in state.rows("order") if o["status"] == "pending")
    assert execute(fork, "cancel_order", {"order_id": order["id"]}).ok
    assert state.get("order", order["id"]) == order  # the original is untouched
    assert fork.get("order", order["id"])["status"] == "cancelled"  # type: ignore[index]
    fork.restore(initial)
    assert fork.snapshot() == initial


def test_diff_names_rows_added_and_fields_changed(retail: DomainSpec) -> None:
    before = seed_state(retail)
    after = before.fork()
    customer = before.rows("customer")[0]
    product = next(p for p in before.rows("product") if p["active"] and p["stock"] >= 2)
    result = execute(after, "place_order", {"customer_id": customer["id"], "product_id": product["id"], "quantity": 2})
    assert result.ok
    changes = diff(before, after)
    assert changes.summary() == {
        "product": {"added": 0, "removed": 0, "changed": 1},
        "order": {"added": 1, "removed": 0, "changed": 0},
    }
    assert changes.tables["product"].changed[0].fields == {"stock": (product["stock"], product["stock"] - 2)}
    assert changes.tables["order"].added[0]["customer_id"] == customer["id"]
    assert diff(before, before.fork()).is_empty()


def test_the_schema_itself_refuses_rows_that_break_declared_constraints(retail: DomainSpec) -> None:
    state = State.empty(retail)
    state.insert("customer", {"id": "CUS-1", "name": "A", "email": "a@x", "city": "B", "tier": "gold", "store_credit": 0})
    with pytest.raises(sqlite3.IntegrityError):
        state.insert("customer", {"id": "CUS-2", "name": "A", "email": "b@x", "city": "B", "tier": "diamond", "store_credit": 0})
    with pytest.raises(sqlite3.IntegrityError):
        state.insert("customer", {"id": "CUS-3", "name": "A", "email": "a@x", "city": "B", "tier": "gold", "store_credit": 0})
    with pytest.raises(sqlite3.IntegrityError):
        state.insert("customer", {"id": "CUS-4", "name": "A", "email": "c@x", "city": "B", "tier": "gold", "store_credit": -1})
    with pytest.raises(sqlite3.IntegrityError):
        state.insert(
            "return_request",
            {"id": "RET-1", "order_id": "ORD-404", "reason": "damaged", "status": "open", "opened_on": "2026-03-01"},
        )


@pytest.mark.parametrize(("domain", "seed"), [("retail", 1), ("it_helpdesk", 2), ("university_enrollment", 3), ("telecom_plans", 4)])
def test_the_journal_matches_a_full_diff_and_reset_restores_the_baseline(domain: str, seed: int) -> None:
    import random

    from scaleenv_mcp.engine.binding import find_successful_call

    from ..conftest import shipped_spec

    spec = shipped_spec(domain)
    state = seed_state(spec)
    baseline = state.fork()
    state.track()
    rng = random.Random(seed)
    for step in range(25):
        tool = rng.choice(spec.write_tools())
        found = find_successful_call(state, tool, seed=step, limit=60)
        if found:
            assert execute(state, tool, found[0]).ok
        assert execute(state, tool, {"definitely": "invalid"}).error is not None  # failures leave no journal trace
    full = diff(baseline, state)
    assert not full.is_empty()
    assert state.changes().summary() == full.summary()
    assert state.changes().model_dump() == full.model_dump()
    state.reset()
    assert state.dump() == baseline.dump() and state.changes().is_empty()


def test_reset_restores_unique_values_a_new_row_took_or_rows_swapped() -> None:
    """A seat handed to someone else and a new seat for the first holder (one licence per person),
    or two seats that traded holders: reset must put every row back without tripping the uniqueness."""
    from ..conftest import shipped_spec

    spec = shipped_spec("it_helpdesk")
    state = seed_state(spec)
    baseline = state.fork()
    state.track()
    first, second = state.rows("seat")[:2]
    others = [e["id"] for e in state.rows("employee") if e["id"] not in (first["employee_id"], second["employee_id"])]
    taken = {(s["licence_id"], s["employee_id"]) for s in state.rows("seat")}
    spare = next(e for e in others if (first["licence_id"], e) not in taken and (second["licence_id"], e) not in taken)
    state.update("seat", first["id"], {"employee_id": spare})
    state.insert("seat", {**first, "id": "SEAT-9999"})  # the first holder gets a new seat of the same licence
    state.reset()
    assert state.dump() == baseline.dump()

    state.update("seat", first["id"], {"licence_id": second["licence_id"], "employee_id": spare})
    state.update("seat", second["id"], {"licence_id": first["licence_id"], "employee_id": first["employee_id"]})
    state.update("seat", first["id"], {"licence_id": second["licence_id"], "employee_id": second["employee_id"]})
    state.reset()  # the two seats swapped: restoring either first collides with the other
    assert state.dump() == baseline.dump() and state.changes().is_empty()


def test_near_duplicates_are_seeded_copies_that_differ_only_where_the_blueprint_says(retail: DomainSpec) -> None:
    """Namesake customers: the same name and tier and credit, another email (unique) and city (varied)."""
    nd = retail.entities["customer"].near_duplicates
    assert nd is not None and nd.vary == ["city"]
    rows = seed_state(retail).rows("customer")
    assert len(rows) == retail.entities["customer"].count + nd.count
    originals, copies = rows[: -nd.count], rows[-nd.count :]
    for copy in copies:
        twins = [r for r in originals if r["name"] == copy["name"] and r["tier"] == copy["tier"] and r["store_credit"] == copy["store_credit"]]
        assert twins and all(t["email"] != copy["email"] for t in twins)
        assert any(t["city"] != copy["city"] for t in twins)
    assert seed_state(retail).dump() == seed_state(retail).dump()  # reproducible like every seed


def test_reset_restores_a_kept_row_that_points_at_a_row_the_episode_created(retail: DomainSpec) -> None:
    """Deleting the created product first would leave the order pointing at nothing until the order is
    written back: reset must still put both back (the checks wait for the commit then)."""
    state = seed_state(retail)
    baseline = state.fork()
    state.track()
    order = state.rows("order")[0]
    product = state.get("product", order["product_id"])
    assert product is not None
    state.insert("product", {**product, "id": "PRD-9999"} | {k: f"{v} (copy)" for k, v in product.items() if k == "name"})
    state.update("order", order["id"], {"product_id": "PRD-9999"})
    state.reset()
    assert state.dump() == baseline.dump() and state.changes().is_empty()
    assert state.integrity_problems() == []
    # the connection keeps enforcing references after a reset that had to defer them
    with pytest.raises(sqlite3.IntegrityError):
        state.update("order", order["id"], {"product_id": "PRD-0000-missing"})


def test_find_and_search_give_the_same_rows_on_repeated_shapes(retail: DomainSpec) -> None:
    """SQL texts are cached per shape: the same keys with other values, list lengths or nulls must not
    reuse a text made for another shape."""
    state = seed_state(retail)
    orders = state.rows("order")
    ids = [o["id"] for o in orders]
    assert [o["id"] for o in state.find("order", {"id__in": ids[:2]})] == ids[:2]
    assert [o["id"] for o in state.find("order", {"id__in": ids[:3]})] == ids[:3]
    assert state.find("order", {"id__in": []}) == []
    status = orders[0]["status"]
    assert state.find("order", {"status": status.upper()}, nocase=True) == [o for o in orders if o["status"] == status]
    assert state.find("order", {"status": status.upper()}) == []
    with pytest.raises(KeyError, match="unknown field"):
        state.find("order", {"nope": 1})
    with pytest.raises(KeyError, match="unknown field"):
        state.find("order", {}, order_by="nope")
    name = state.rows("customer")[0]["name"]
    found = state.search("customer", [("name", "==", name.lower())], order_by=None, descending=False, limit=5)
    assert name in [c["name"] for c in found]
    assert state.search("customer", [("name", "contains", "%")], order_by=None, descending=False, limit=5) == []
    with pytest.raises(ValueError, match="unknown filter operator"):
        state.search("customer", [("name", "~", "x")], order_by=None, descending=False, limit=5)


def test_rows_kept_inside_a_call_follow_its_writes_and_rollbacks(retail: DomainSpec) -> None:
    """A call reads its rows once (``reading_once``); what it reads must still be what SQLite holds
    after each write, an undone savepoint and a trial, and a caller changing its copy changes nothing."""
    state = seed_state(retail)
    state.track()
    cid = str(state.head("customer", 1)[0]["id"])
    city = state.get("customer", cid)["city"]  # type: ignore[index]
    selects: list[str] = []
    state.conn.set_trace_callback(lambda sql: selects.append(sql) if sql.startswith("SELECT") else None)
    with state.reading_once():
        mine = state.get("customer", cid)
        assert mine is not None
        mine["city"] = "changed in the caller's copy"
        assert state.get("customer", cid)["city"] == city  # type: ignore[index]
        assert len(selects) == 1  # read once
        state.update("customer", cid, {"city": "Austin"})
        assert state.get("customer", cid)["city"] == "Austin"  # type: ignore[index]
        seen_inside: list[Any] = []

        def write_then_fail() -> None:
            with state.atomic():
                state.update("customer", cid, {"city": "Boston"})
                seen_inside.append(state.get("customer", cid)["city"])  # type: ignore[index]
                raise RuntimeError("undo")

        with pytest.raises(RuntimeError):
            write_then_fail()
        assert seen_inside == ["Boston"]
        assert state.get("customer", cid)["city"] == "Austin"  # type: ignore[index]
        with state.trial():
            state.update("customer", cid, {"city": "Paris"})
        assert state.get("customer", cid)["city"] == "Austin"  # type: ignore[index]
        found = state.find("customer", {"id": cid})
        assert found[0]["city"] == "Austin"
        state.reset()
        assert state.get("customer", cid)["city"] == city  # type: ignore[index]
    state.conn.set_trace_callback(None)
    assert state.get("customer", cid)["city"] == city  # type: ignore[index]


def test_the_rows_written_since_last_asked_leave_out_undone_writes(retail: DomainSpec) -> None:
    """What a durable store writes after a call: the rows that call wrote, not every row the episode
    touched before, and nothing a rolled-back block or a trial wrote."""
    state = seed_state(retail)
    state.track()
    first, second = (str(c["id"]) for c in state.head("customer", 2))
    state.update("customer", first, {"city": "Austin"})
    assert state.take_written() == [("customer", first)]
    state.update("customer", second, {"city": "Boston"})
    with state.trial():
        state.update("customer", first, {"city": "Paris"})

    def undone() -> None:
        with state.atomic():
            state.update("customer", first, {"city": "Rome"})
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        undone()
    assert state.take_written() == [("customer", second)]
    assert state.take_written() == []
    state.update("customer", first, {"city": "Oslo"})
    state.reset()
    assert state.take_written() == []


def _woken(state: State, image: bytes) -> State:
    """``state`` put to sleep and woken again from ``image``, its baseline."""
    return State.wake(state.spec, image, state.sleep())


def test_a_state_woken_from_sleep_holds_what_it_held_when_rows_swapped_unique_values_or_a_parent_went() -> None:
    """Waking writes the touched rows back with references checked as they land: rows that traded
    unique values, a parent deleted once its only child moved to another, a retired top id. The
    woken state holds the same rows, diff and next id, and resets to its baseline."""
    from ..conftest import shipped_spec

    spec = shipped_spec("it_helpdesk")
    state = seed_state(spec)
    image = state.snapshot()
    state.track()
    first, second = state.rows("seat")[:2]
    taken = {(s["licence_id"], s["employee_id"]) for s in state.rows("seat")}
    spare = next(e["id"] for e in state.rows("employee") if (second["licence_id"], e["id"]) not in taken)
    state.update("seat", first["id"], {"licence_id": second["licence_id"], "employee_id": spare})  # out of the way
    state.update("seat", second["id"], {"licence_id": first["licence_id"], "employee_id": first["employee_id"]})
    state.update("seat", first["id"], {"licence_id": second["licence_id"], "employee_id": second["employee_id"]})
    expected, changes = state.dump(), state.changes()
    woken = _woken(state, image)
    assert woken.dump() == expected and woken.changes() == changes
    woken.reset()
    assert woken.dump() == State.from_snapshot(spec, image).dump()

    retail = shipped_spec("retail")
    state = seed_state(retail)
    image = state.snapshot()
    state.track()
    orders = state.rows("order")
    held = {o["product_id"] for o in orders}
    referenced = [o["product_id"] for o in orders] + [r["product_id"] for e in ("order_line", "cart_item") if e in retail.entities for r in state.rows(e)]
    only = next(o for o in orders if referenced.count(o["product_id"]) == 1)  # its product has no other row pointing at it
    other = next(p for p in held if p != only["product_id"])
    state.update("order", only["id"], {"product_id": other})
    state.delete("product", only["product_id"])
    top = state.rows("return_request")[-1]
    state.delete("return_request", top["id"])  # the highest id: it is retired, never issued again
    expected, changes, next_id = state.dump(), state.changes(), state.next_id("return_request")
    woken = _woken(state, image)
    assert woken.dump() == expected and woken.changes() == changes and woken.next_id("return_request") == next_id == _after(top["id"])
    assert woken.integrity_problems() == []
    with pytest.raises(sqlite3.IntegrityError):  # reference checks are on again after a write-back that had to defer them
        woken.update("order", only["id"], {"product_id": "PRD-0000-missing"})
    woken.reset()
    assert woken.dump() == State.from_snapshot(retail, image).dump()


def _after(row_id: str) -> str:
    prefix, number = row_id.rsplit("-", 1)
    return f"{prefix}-{int(number) + 1:0{len(number)}d}"


def test_a_closed_state_hands_its_connection_on_and_can_no_longer_reach_it(retail: DomainSpec) -> None:
    """A new state of the domain reuses the connection a closed one gave back (its schema already
    parsed); the closed state raises on use instead of reaching the new state's rows."""
    image = seed_state(retail).snapshot()
    first = State.from_snapshot(retail, image)
    conn = first.conn
    first.close()
    second = State.from_snapshot(retail, image)
    assert second.conn is conn
    with pytest.raises(sqlite3.ProgrammingError):
        first.rows("order")
    assert second.rows("order") == seed_state(retail).rows("order")
    first.close()  # closing twice gives nothing back twice
    second.close()
    assert State.from_snapshot(retail, image).conn is conn


def test_a_reused_connection_reads_an_image_through_the_image_own_schema(retail: DomainSpec) -> None:
    """SQLite runs a connection's compiled statements on a new image without compiling them again
    while the image's schema cookie matches, and the cookie only counts schema changes: the image of
    an edited blueprint (a field put first) can carry the same cookie, and a statement compiled for
    the old table would read its columns by their old places. A state made from that image must read
    it as a connection of its own would."""
    import yaml

    from scaleenv_mcp.spec import parse_blueprint

    from ..conftest import PATHS

    data = yaml.safe_load((PATHS.blueprints / "retail.yaml").read_text())
    fields = data["entities"]["order"]["fields"]
    data["entities"]["order"]["fields"] = {"gift_note": {"type": "string", "sample": "sentence", "nullable": True}, **fields}
    edited_image = seed_state(parse_blueprint(data)).snapshot()
    image = seed_state(retail).snapshot()
    assert edited_image[40:44] == image[40:44]  # the same schema cookie
    warm = State.from_snapshot(retail, image)
    assert warm.rows("order")  # the read compiled on this connection for the shipped table
    warm.close()
    plain = sqlite3.connect(":memory:")
    plain.deserialize(edited_image)
    columns = ", ".join(f'"{c}"' for c in ["id", *retail.entities["order"].fields])
    expected = plain.execute(f'SELECT {columns} FROM "order" ORDER BY id').fetchall()
    state = State.from_snapshot(retail, edited_image)
    assert [tuple(r.values()) for r in state.rows("order")] == expected


def test_a_restored_image_of_another_schema_is_read_and_written_through_its_own(retail: DomainSpec) -> None:
    """The same for a live state that restores such an image, and for the state that reuses its
    connection after: statements compiled before the restore must not read or write the image's
    columns by their old places (a status written into the total, a sentence read as a customer)."""
    import yaml

    from scaleenv_mcp.spec import parse_blueprint

    from ..conftest import PATHS

    data = yaml.safe_load((PATHS.blueprints / "retail.yaml").read_text())
    fields = data["entities"]["order"]["fields"]
    data["entities"]["order"]["fields"] = {"gift_note": {"type": "string", "sample": "sentence", "nullable": True}, **fields}
    edited_image = seed_state(parse_blueprint(data)).snapshot()
    columns = ", ".join(f'"{c}"' for c in ["id", *retail.entities["order"].fields])

    def own_read(image: bytes) -> list[tuple[object, ...]]:
        plain = sqlite3.connect(":memory:")
        plain.deserialize(image)
        return plain.execute(f'SELECT {columns} FROM "order" ORDER BY id').fetchall()

    state = State.from_snapshot(retail, seed_state(retail).snapshot())
    order = state.rows("order")[0]
    state.update("order", order["id"], {"status": order["status"]})  # reads and writes compiled for the shipped table
    state.restore(edited_image)
    assert [tuple(r.values()) for r in state.rows("order")] == own_read(edited_image)
    state.update("order", order["id"], {"status": "cancelled" if order["status"] != "cancelled" else "pending"})
    written = state.snapshot()
    assert [tuple(r.values()) for r in state.rows("order")] == own_read(written)
    assert own_read(written)[0][list(retail.entities["order"].fields).index("status") + 1] != order["status"]
    conn = state.conn
    state.close()
    again = State.from_snapshot(retail, edited_image)
    assert again.conn is conn and [tuple(r.values()) for r in again.rows("order")] == own_read(edited_image)


def test_a_forked_child_does_not_reuse_the_parent_connections(retail: DomainSpec) -> None:
    """A process pool's workers start as forks of the parent: the connections the parent kept idle stay
    the parent's, and the child's states open their own (SQLite's connections must not cross a fork)."""
    import os

    image = seed_state(retail).snapshot()
    warm = State.from_snapshot(retail, image)
    idle = warm.conn
    warm.close()  # kept idle in the parent
    again = State.from_snapshot(retail, image)
    assert again.conn is idle  # the parent's next state reuses it
    again.close()
    pid = os.fork()
    if pid == 0:  # the child: a new state must not get the inherited connection
        code = 1
        try:
            state = State.from_snapshot(retail, image)
            code = 0 if state.conn is not idle and state.rows("order") == seed_state(retail).rows("order") else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_process_keeps_a_bounded_number_of_idle_connections_across_domains(retail: DomainSpec) -> None:
    """Idle connections of every domain count together: past the bound, the one idle longest is
    closed, so a process that runs many domains in turn does not hold a few for each."""
    from scaleenv_mcp.engine.state import POOL_SIZE

    from ..conftest import shipped_spec

    hotel = shipped_spec("hotel")
    states = [State.from_snapshot(retail, seed_state(retail).snapshot()) for _ in range(POOL_SIZE)]
    states.append(State.from_snapshot(hotel, seed_state(hotel).snapshot()))
    conns = [s.conn for s in states]
    assert len({id(c) for c in conns}) == len(conns)
    for state in states:
        state.close()
    with pytest.raises(sqlite3.ProgrammingError):
        conns[0].execute("SELECT 1")  # closed to make room
    assert State.from_snapshot(hotel, seed_state(hotel).snapshot()).conn is conns[-1]
    assert State.from_snapshot(retail, seed_state(retail).snapshot()).conn is conns[-2]


def test_an_empty_or_garbled_image_is_refused_and_the_next_state_is_whole(retail: DomainSpec) -> None:
    image = seed_state(retail).snapshot()
    with pytest.raises(sqlite3.DatabaseError, match="empty image"):
        State.from_snapshot(retail, b"")
    state = State.from_snapshot(retail, image)
    with pytest.raises(sqlite3.DatabaseError, match="empty image"):
        state.restore(b"")
    with pytest.raises(sqlite3.DatabaseError):
        state.restore(b"not a database" * 100)
    state.restore(image)  # a good image after a garbled one
    assert state.dump() == seed_state(retail).dump()
    with pytest.raises(sqlite3.DatabaseError):
        state.restore(b"not a database" * 100)
    state.close()  # a garbled state's connection is not handed on
    assert State.from_snapshot(retail, image).dump() == seed_state(retail).dump()
