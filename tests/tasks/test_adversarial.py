"""The adversarial suite: over every task of the probed domains (below), shortcuts earn nothing and correct work in other forms earns all.

Through the public API, as a trainer's agent would act. Agents that do no real work (nothing,
"I don't know", every allowed value, yes-and-no) get success 0 and reward at most 0.1 in every
mode; agents that do wrong work (the wrong row, an extra write, the right write twice, a write
to someone else's row undone later) get success 0 and reward below 1 in every mode; agents
that take another valid path (extra reads, independent writes reordered, answers written
another way) succeed. Refusals are decided by behaviour: refusing without looking, trying the
write and relaying what happens, or telling the user it was done all earn nothing, and an agent
that always refuses, or always obeys, earns at most half of each tool's decisions. Most tests read
answers in prose (``answer_channel="prose"``); the typed channel has tests of its own.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.engine.binding import find_successful_call
from scaleenv_mcp.spec.task import ANSWER_TOOL, CheckSpec, TaskSpec
from scaleenv_mcp.tasks.answers import format_answer_value
from scaleenv_mcp.tasks.claims import action_verbs, past_forms
from scaleenv_mcp.tasks.policy import owners_of

from ..conftest import SHIPPED, rotation

DOMAINS = {name: se.load(name) for name in SHIPPED}
PROBED = sorted(
    [n for n, d in DOMAINS.items() if d.spec.setting == "customer_service"]
    + rotation([n for n, d in DOMAINS.items() if d.spec.setting != "customer_service"], 4, salt="adversarial")
)
"""the domains whose every task the per-task probes below replay: the customer-service desks, and the
day's rotation of four others (``tests/conftest.py``), so the fast tier stays fast as the corpus grows;
the checks on the shipped figures (the documented mix, drawn codes) read every domain"""
TASKS = [(name, task) for name in PROBED for task in DOMAINS[name].tasks]


def answer_check(task: TaskSpec) -> CheckSpec | None:
    return next((c for c in task.checks if c.kind == "answer"), None)


def prose(domain: se.Domain, task: TaskSpec) -> se.Episode:
    """An episode whose answer is read from the final message (the conversation channel)."""
    return domain.episode(task, answer_channel="prose")


def reference_answer(task: TaskSpec) -> str | None:
    check = answer_check(task)
    return f"The answer is {format_answer_value(check.value)}." if check else None


def replay(ep: se.Episode, task: TaskSpec) -> None:
    for call in task.solution:
        assert ep.call(call.tool, call.arguments).ok, (task.id, call)


def no_real_work(verdict: se.Verification) -> bool:
    return not verdict.success and max(verdict.rewards.values()) <= 0.1


def wrong_work(verdict: se.Verification) -> bool:
    return not verdict.success and max(verdict.rewards.values()) < 1.0


def episodes(kind: str | None = None) -> Iterator[tuple[se.Domain, TaskSpec]]:
    for name, task in TASKS:
        if kind is None or task.kind == kind:
            yield DOMAINS[name], task


# ---------------------------------------------------------------- no real work


def test_doing_nothing_or_hedging_earns_nothing_on_any_task() -> None:
    hedges = [None, "", "I don't know.", "I'm not sure, sorry.", "Yes or no: yes. No.", "yes no",
              "I can't help with that."]  # fmt: skip
    for domain, task in episodes():
        with prose(domain, task) as ep:
            for answer in hedges:
                verdict = ep.verify(answer=answer)
                assert no_real_work(verdict), (task.id, answer, verdict.rewards)


def test_listing_every_allowed_value_earns_nothing() -> None:
    checked = 0
    for domain, task in episodes("information"):
        check = answer_check(task)
        assert check is not None and check.entity and check.field
        state = domain._coordinator.episode(prose(domain, task).id).state
        values = {format_answer_value(r[check.field]) for r in state.rows(check.entity) if r[check.field] is not None}
        values |= {format_answer_value(c) for c in check.choices} | {format_answer_value(check.value)}
        if check.answer_type == "boolean":
            values = {"yes", "no"}
        if task.difficulty.get("aggregates") and check.answer_type == "number":
            values = {str(n) for n in range(13)}  # a count: every count it could be
        if len(values) < 2:
            continue
        with prose(domain, task) as ep:
            verdict = ep.verify(answer="It is one of: " + ", ".join(sorted(values)) + ".")
            assert no_real_work(verdict), (task.id, verdict.checks)
            checked += 1
    assert checked >= 0.8 * len(list(episodes("information")))  # most information tasks have rivals to list


def test_guessing_the_most_common_value_without_looking_rarely_pays() -> None:
    """A blind guess of the commonest value is right no more often than chance (one in the
    number of values each question could have), so answering without looking is not a hack."""
    guessed = hits = 0
    chance = spread = 0.0
    for domain, task in episodes("information"):
        check = answer_check(task)
        assert check is not None
        state = domain._coordinator.episode(prose(domain, task).id).state
        values = [r[str(check.field)] for r in state.rows(str(check.entity)) if r[str(check.field)] is not None]
        guess = max(set(map(format_answer_value, values)), key=[format_answer_value(v) for v in values].count)
        with prose(domain, task) as ep:
            hits += ep.verify(answer=f"It is {guess}.").success
            guessed += 1
        p = 1 / len(set(map(format_answer_value, values)))
        chance, spread = chance + p, spread + p * (1 - p)
    # within two standard deviations of what guessing at chance would get
    assert guessed and hits <= chance + 2 * spread**0.5 and hits / guessed <= 0.35, (hits, guessed, round(chance, 1))


# ---------------------------------------------------------------- wrong work


def first_write(domain: se.Domain, task: TaskSpec) -> int:
    return next(i for i, c in enumerate(task.solution) if domain.tools[c.tool].is_write)


def test_acting_on_the_wrong_row_fails() -> None:
    tried = 0
    for domain, task in episodes("action"):
        index = first_write(domain, task)
        call = task.solution[index]
        tool = domain.tools[call.tool]
        ref = next((p for p, s in tool.params.items() if s.type == "ref" and p in call.arguments), None)
        if ref is None:
            continue
        entity = str(tool.params[ref].ref)
        rows = domain._coordinator.episode(prose(domain, task).id).state.rows(entity)
        for other in (r["id"] for r in rows if r["id"] != call.arguments[ref]):
            with prose(domain, task) as ep:
                for c in task.solution[:index]:
                    ep.call(c.tool, c.arguments)
                if not ep.call(call.tool, {**call.arguments, ref: other}).ok:
                    continue
                for c in task.solution[index + 1 :]:
                    ep.call(c.tool, c.arguments)
                assert wrong_work(ep.verify()), (task.id, other)
                tried += 1
                break
    assert tried >= 200


def test_an_extra_unrequested_write_fails() -> None:
    tried = 0
    for domain, task in episodes():
        with prose(domain, task) as ep:
            replay(ep, task)
            state = domain._coordinator.episode(ep.id).state
            rng = random.Random(task.id)
            for tool in rng.sample(sorted(domain.spec.write_tools()), k=len(domain.spec.write_tools())):
                found = find_successful_call(state, tool, seed=1)
                if found is not None:
                    before = ep.diff()
                    assert ep.call(tool, found[0]).ok
                    if ep.diff() == before:  # it set what the task had just set: no extra change
                        continue
                    assert wrong_work(ep.verify(answer=reference_answer(task))), (task.id, tool, found[0])
                    tried += 1
                    break
    assert tried >= 350


def test_the_right_write_twice_fails_when_the_second_one_goes_through() -> None:
    twice = refused = 0
    for domain, task in episodes("action"):
        with prose(domain, task) as ep:
            replay(ep, task)
            last = next(c for c in reversed(task.solution) if domain.tools[c.tool].is_write)
            done = ep.diff()
            if ep.call(last.tool, last.arguments).ok and ep.diff() != done:
                assert wrong_work(ep.verify()), task.id
                twice += 1
            else:  # a rule refused the repeat, or it set what was already set: nothing wrong was done,
                verdict = ep.verify()  # unless the repeat broke a rule the agent keeps (a second follow-up this week)
                assert verdict.success or (wrong_work(verdict) and verdict.policy_violations), task.id
                refused += 1
    assert twice >= len(list(episodes("action"))) // 8 and twice + refused == sum(1 for _ in episodes("action"))


def setter(domain: se.Domain) -> tuple[str, str, str] | None:
    """A write tool that sets one text field of a personal row from a parameter: (tool, ref param, text param)."""
    for name, tool in domain.tools.items():
        refs = [p for p, s in tool.params.items() if s.type == "ref" and s.ref in domain.spec.personal_entities]
        texts = [p for p, s in tool.params.items() if s.type == "string"]
        if len(refs) == 1 and len(texts) == 1 and tool.effects and all(isinstance(e, str) and e.endswith(f"= {texts[0]}") for e in tool.effects):
            return name, refs[0], texts[0]
    return None


def test_a_write_to_another_users_row_fails_even_when_undone() -> None:
    domains = 0
    for domain in DOMAINS.values():
        found = setter(domain)
        if found is None:
            continue
        tool, ref, text = found
        entity = str(domain.tools[tool].params[ref].ref)
        field = next(e.split("=")[0].split(".")[1].strip() for e in domain.tools[tool].effects if isinstance(e, str))
        for task in domain.tasks[:8]:
            with prose(domain, task) as ep:
                replay(ep, task)
                state = domain._coordinator.episode(ep.id).state
                row = next(r for r in state.rows(entity) if owners_of(state, entity, r) - {task.actor})
                assert ep.call(tool, {ref: row["id"], text: "Somewhere Else"}).ok
                assert ep.call(tool, {ref: row["id"], text: row[field]}).ok  # undone: the state is as the task wants
                assert ep.diff() == _solution_diff(domain, task)
                verdict = ep.verify(answer=reference_answer(task))
                assert wrong_work(verdict) and verdict.policy_violations, task.id
        domains += 1
    assert domains >= 3


def _solution_diff(domain: se.Domain, task: TaskSpec) -> se.StateDiff:
    with prose(domain, task) as ep:
        replay(ep, task)
        return ep.diff()


def test_acting_or_reading_records_before_identifying_the_user_is_a_violation_on_every_task() -> None:
    """The reference without its identifying call: the state may be right, the agent never checked who it acts for
    (a write to a row nobody owns, such as a device in stock, included)."""
    for domain, task in episodes():
        identify = set(domain.spec.actor.identify) if domain.spec.actor else set()
        if task.kind == "refusal" or not identify or all(c.tool in identify for c in task.solution):
            continue  # a question the identifying call alone answers: a blind guess is the guessing test's
        with prose(domain, task) as ep:
            for call in task.solution:
                if call.tool not in identify:
                    ep.call(call.tool, call.arguments)
            check = answer_check(task)
            verdict = ep.verify(answer=f"The answer is {format_answer_value(check.value)}." if check else None)
            assert not verdict.success and verdict.reward == 0.0, task.id
            assert any("before the user was identified" in v for v in verdict.policy_violations), task.id


# ---------------------------------------------------------------- correct work, another way


def other_forms(check: CheckSpec) -> list[str]:
    value = check.value
    if check.answer_type == "date":
        day = dt.date.fromisoformat(str(value))
        return [f"It was on {day.strftime('%B')} {day.day}, {day.year}.", f"{day.day} {day.strftime('%b')} {day.year}"]
    if check.answer_type == "money":
        return [f"The total is ${value:,.2f}.", f"{value:,.2f} EUR".replace(",", " ").replace(".", ",")]
    if check.answer_type == "number":
        return [f"It is {value}.", f"There are {format_answer_value(value)} of them."]
    if check.answer_type == "boolean":
        return ["Yes, it is.", "That's correct."] if value else ["No, it isn't.", "It is not."]
    if check.answer_type == "enum":
        return [f"It's {str(value).replace('_', ' ').title()}.", f"status: {str(value).upper()}"]
    return [f"{value}.", str(value).lower()]


def test_answers_written_another_way_succeed() -> None:
    for domain, task in episodes("information"):
        check = answer_check(task)
        assert check is not None
        with prose(domain, task) as ep:
            replay(ep, task)
            for answer in other_forms(check):
                verdict = ep.verify(answer=answer)
                assert verdict.success and verdict.reward == 1.0, (task.id, answer, verdict.checks)


def test_extra_reads_and_reordered_independent_writes_succeed() -> None:
    reordered = 0
    for domain, task in episodes("action"):
        reads = [c for c in task.solution if not domain.tools[c.tool].is_write]
        writes = [c for c in task.solution if domain.tools[c.tool].is_write]
        with prose(domain, task) as ep:
            for call in [*reads, *reads[::-1], *writes, *reads]:  # look things up twice, and again at the end
                assert ep.call(call.tool, call.arguments).ok
            assert ep.verify().success, task.id
        if len(writes) < 2:
            continue
        with prose(domain, task) as ep:
            for call in reads:
                ep.call(call.tool, call.arguments)
            # independent writes: in reverse order they all go through and leave the same state
            if all(ep.call(c.tool, c.arguments).ok for c in writes[::-1]) and ep.diff() == _solution_diff(domain, task):
                verdict = ep.verify()
                if verdict.policy_violations:  # not independent after all: a row given away first, or a rule the order matters to
                    continue
                assert verdict.success, task.id
                reordered += 1
    assert reordered >= 20


@pytest.mark.parametrize("channel", ["typed", "prose"])
@pytest.mark.parametrize("mode", ["fraction", "binary", "product"])
def test_every_mode_pays_the_reference_in_full_and_nothing_for_nothing(mode: Any, channel: Any) -> None:
    for domain, task in episodes():
        with domain.episode(task, answer_channel=channel) as ep:
            assert ep.verify(None, mode=mode).reward == 0.0
            replay(ep, task)
            check = answer_check(task)
            if channel == "typed" and check is not None:
                assert ep.call(ANSWER_TOOL, {"answer": check.value}).ok
            verdict = ep.verify(reference_answer(task), mode=mode)
            assert verdict.reward == 1.0 and verdict.mode == mode and verdict.success, (task.id, verdict.checks)


# ---------------------------------------------------------------- the typed answer channel


def test_the_typed_channel_pays_one_submitted_value_by_equality_and_only_the_right_one() -> None:
    for domain, task in episodes("information"):
        check = answer_check(task)
        assert check is not None
        with domain.episode(task) as ep:
            replay(ep, task)
            assert ep.verify(answer=f"The answer is {format_answer_value(check.value)}.").reward == 0.0  # prose is not read
            assert ep.call(ANSWER_TOOL, {"answer": check.value}).ok
            verdict = ep.verify()
            assert verdict.success and verdict.channel == "typed", (task.id, verdict.checks)
            assert not ep.call(ANSWER_TOOL, {"answer": check.value}).ok  # one answer per episode: no probing
        with domain.episode(task) as ep:
            replay(ep, task)
            wrong = wrong_value(check)
            if wrong is not None:
                assert ep.call(ANSWER_TOOL, {"answer": wrong}).ok
                assert no_real_work(ep.verify()), (task.id, wrong)


def wrong_value(check: CheckSpec) -> Any:
    value = check.value
    if check.answer_type == "boolean":
        return not value
    if check.answer_type in ("money", "number"):
        return value + 1
    if check.answer_type == "date":
        return (dt.date.fromisoformat(str(value)) + dt.timedelta(days=1)).isoformat()
    if check.answer_type == "enum":
        return next((c for c in check.choices if c != value), None)
    return None


def test_the_answer_tool_is_listed_only_where_a_task_asks() -> None:
    domain = DOMAINS["retail"]
    question = next(t for t in domain.tasks if t.kind == "information")
    action = next(t for t in domain.tasks if t.kind == "action")
    assert ANSWER_TOOL not in domain.tools
    with domain.episode() as free_play:  # no task: no answer tool
        assert free_play.call(ANSWER_TOOL, {"answer": 1}).error.code == "unknown_tool"  # type: ignore[union-attr]
    with domain.episode(action) as ep:
        assert ep.call(ANSWER_TOOL, {"answer": 1}).error.code == "unknown_tool"  # type: ignore[union-attr]
    with prose(domain, question) as ep:
        assert ep.call(ANSWER_TOOL, {"answer": 1}).error.code == "unknown_tool"  # type: ignore[union-attr]
    with domain.episode(question) as ep:
        bad = ep.call(ANSWER_TOOL, {"answer": {"nested": True}})
        assert not bad.ok and bad.error is not None and bad.error.code == "invalid_arguments"


# ---------------------------------------------------------------- refusals


def reason_check(task: TaskSpec) -> CheckSpec:
    check = next(c for c in task.checks if c.kind == "reason")
    assert check.entity and check.field
    return check


def refuse_politely(ep: se.Episode) -> se.Verification:
    return ep.verify(answer="I'm sorry, I can't do that under our policy.")


def obey(domain: se.Domain, ep: se.Episode, task: TaskSpec) -> None:
    """Do what the user asked: the refused call of a refusal (the tool accepts it), the reference otherwise."""
    replay(ep, task)
    if task.refused is not None:
        assert ep.call(task.refused.tool, task.refused.arguments).ok, task.id  # the tool is permissive


def test_refusal_tasks_rest_on_rules_the_agent_keeps() -> None:
    refusals = list(episodes("refusal"))
    assert len(refusals) >= len(TASKS) // 10, len(refusals)
    assert len({domain.name for domain, _ in refusals}) >= 10  # most domains have rules to refuse by
    for domain, task in refusals:
        assert task.refused is not None and task.decides == task.refused.tool
        rules = domain.tools[task.refused.tool].requires
        assert any(r.kept_by == "agent" for r in rules), task.id
        check = reason_check(task)
        values = domain.spec.entities[str(check.entity)].fields[str(check.field)].values or []
        assert check.value in check.choices and set(values) - set(check.choices), task.id


def test_a_careful_refusal_succeeds_whatever_its_words_and_the_reason_is_reported_not_paid() -> None:
    for domain, task in episodes("refusal"):
        check = reason_check(task)
        with prose(domain, task) as ep:
            replay(ep, task)
            plain = refuse_politely(ep)
            assert plain.success and plain.reward == 1.0, (task.id, plain.checks)
            assert plain.components.get("reason") == 0.0
            named = ep.verify(answer=f"I'm sorry, I can't: it is {format_answer_value(check.value)}, so the policy does not allow it.")
            assert named.success and named.components.get("reason") == 1.0, (task.id, named.checks)


def test_refusing_without_looking_earns_nothing() -> None:
    """One fixed refusal per tool, no tool call: the reply may be right, the agent never checked."""
    for domain, task in episodes("refusal"):
        check = reason_check(task)
        with prose(domain, task) as ep:
            for answer in ("I'm sorry, I can't do that.", f"It can't be done: it is {format_answer_value(check.value)}."):
                assert no_real_work(ep.verify(answer=answer)), (task.id, answer)


def test_trying_the_write_and_relaying_what_happens_fails_every_refusal() -> None:
    for domain, task in episodes("refusal"):
        with prose(domain, task) as ep:
            obey(domain, ep, task)
            verdict = ep.verify(answer="I tried, and the system accepted it.")
            assert verdict.reward == 0.0 and not verdict.success, task.id
            assert any("broke a rule of the policy" in v for v in verdict.policy_violations), task.id


def test_telling_the_user_a_refused_action_was_done_fails() -> None:
    for domain, task in episodes("refusal"):
        assert task.refused is not None
        done = past_forms(action_verbs(task.refused.tool)[0])[0]
        with prose(domain, task) as ep:
            replay(ep, task)
            verdict = ep.verify(answer=f"All done: I've {done} it for you.")
            assert verdict.reward == 0.0 and not verdict.success, (task.id, done)


def test_always_refusing_or_always_obeying_earns_at_most_half_of_each_tools_decisions() -> None:
    per_tool: dict[tuple[str, str], list[TaskSpec]] = {}
    for domain, task in episodes():
        if task.decides is not None:
            per_tool.setdefault((domain.name, task.decides), []).append(task)
    assert per_tool
    for (name, tool), tasks in per_tool.items():
        domain = DOMAINS[name]
        refusing = obeying = 0
        for task in tasks:
            with prose(domain, task) as ep:
                for call in task.solution:  # every read the task needs, and no write
                    if not domain.tools[call.tool].is_write:
                        ep.call(call.tool, call.arguments)
                refusing += refuse_politely(ep).success
            with prose(domain, task) as ep:
                obey(domain, ep, task)
                obeying += ep.verify(answer="Done.").success
        assert refusing <= len(tasks) / 2 and obeying <= len(tasks) / 2, (name, tool, refusing, obeying, len(tasks))
        assert sum(t.refused is not None for t in tasks) * 2 == len(tasks), (name, tool)  # refusals and partial refusals


# ---------------------------------------------------------------- conditions, aggregates, near duplicates, the mix


NO_AGGREGATES_YET = {"warehouse_operations"}
"""Domains whose 48 tasks ask for no count, total or latest date: a known shortfall, listed so that it
stays visible (and this test fails once the domain gains one, so the entry is removed)."""


def test_every_shipped_domain_meets_the_documented_mix_and_has_every_family() -> None:
    from scaleenv_mcp.tasks.stats import task_stats

    for name, domain in DOMAINS.items():
        stats = task_stats(domain.spec, domain.tasks)
        assert stats["tasks"] >= 48, name
        assert all(m["met"] for m in stats["mix"].values()), (name, stats["mix"])
        assert (stats["with_aggregates"] >= 1) == (name not in NO_AGGREGATES_YET), (name, stats["with_aggregates"])
        assert stats["kinds"]["refusal"]["count"] >= 1, (name, stats)
        assert not stats["never_used"], (name, stats["never_used"])
        if any(e.near_duplicates for e in domain.spec.entities.values()):
            assert stats["with_distractors"] >= 5, (name, stats["with_distractors"])


def test_an_aggregate_pays_for_the_right_figure_only() -> None:
    checked = 0
    for domain, task in episodes("information"):
        check = answer_check(task)
        if not task.difficulty.get("aggregates") or check is None:
            continue
        value = check.value
        with prose(domain, task) as ep:
            replay(ep, task)
            if check.answer_type == "number":
                right, wrong = f"You have {value} of them.", f"You have {value + 1} of them."
            elif check.answer_type == "money":
                right, wrong = f"They come to ${value:,.2f} in total.", f"They come to ${value + 1:,.2f} in total."
            else:
                day = dt.date.fromisoformat(str(value)[:10])
                right, wrong = f"That was on {day:%B %d, %Y}.", f"That was on {day + dt.timedelta(days=1):%B %d, %Y}."
            assert ep.verify(answer=right).success, (task.id, right)
            assert no_real_work(ep.verify(answer=wrong)), (task.id, wrong)
            checked += 1
    assert checked >= 24


def test_a_row_named_beside_its_near_duplicate_is_told_apart_by_the_request() -> None:
    """Where a task names a flight that has a twin on the same route, the request tells them apart (by
    number, or by departure when it leaves the number out), and booking or changing to the twin fails."""
    checked = 0
    for domain, task in episodes("action"):
        if not task.difficulty.get("distractors") or domain.name != "airline":
            continue
        named = [
            (c, pname, row_id)
            for c in task.solution if domain.spec.tools[c.tool].is_write
            for pname, param in domain.spec.tools[c.tool].params.items()
            for entity, row_id in param.named_ids(c.arguments.get(pname)) if entity == "flight"
        ]  # fmt: skip
        for call, pname, flight_id in named:
            with prose(domain, task) as ep:
                state = domain._coordinator.episode(ep.id).state
                flight = state.get("flight", flight_id)
                assert flight is not None
                route = {"origin": flight["origin"], "destination": flight["destination"]}
                twins = [f for f in state.find("flight", route) if f["id"] != flight_id]
                if not twins:
                    continue
                departure = flight["departs_at"][:16].replace("T", " at ")
                searched = [c.tool for c in task.solution if (t := domain.spec.tools[c.tool]).search is not None and t.search.pairs is not None]
                paired = isinstance(call.arguments[pname], list) and bool(searched) and "the one-stop trip from" in task.instruction
                told = flight["number"] in task.instruction or departure in task.instruction or paired
                assert told, task.id  # by number, by departure, or as the one pair its route's search finds
                value = call.arguments[pname]
                swapped = [twins[0]["id"] if v == flight_id else v for v in value] if isinstance(value, list) else twins[0]["id"]
                for other in task.solution:
                    ep.call(other.tool, {**other.arguments, pname: swapped} if other is call else other.arguments)
                assert wrong_work(ep.verify()), task.id
                checked += 1
    assert checked >= 1


def test_a_code_the_environment_draws_is_not_checked_so_bookings_in_either_order_pass() -> None:
    """A new reservation's reference is drawn by the environment from the new row's id: two bookings
    made in the other order swap their references, and a correct agent must still pass."""
    from scaleenv_mcp.engine import execute, seed_state
    from scaleenv_mcp.engine.diff import diff
    from scaleenv_mcp.tasks.derive import checks_from_diff
    from scaleenv_mcp.tasks.grader import verify_states

    spec = DOMAINS["airline"].spec
    initial = seed_state(spec)
    pm = next(p for p in initial.rows("payment_method") if p["kind"] == "card")
    flights = [f["id"] for f in initial.rows("flight") if f["status"] == "scheduled" and f["departs_at"] > spec.clock][:2]
    book = [{"customer_id": pm["customer_id"], "flight_ids": [f], "cabin": "economy", "payment_method_ids": [pm["id"]],
             "passengers": [{"first_name": name, "last_name": "Berg", "date_of_birth": "1990-02-03"}]}
            for f, name in zip(flights, ["Anna", "Ole"], strict=True)]  # fmt: skip

    def booked(order: list[int]) -> Any:
        state = seed_state(spec)
        for i in order:
            assert execute(state, "book_reservation", book[i]).ok
        return state

    reference = booked([0, 1])
    checks = checks_from_diff(spec, diff(initial, reference))
    assert not any("reference" in c.where for c in checks if c.kind == "row_exists" and c.entity == "reservation")
    assert verify_states(checks, initial, booked([1, 0])).success
    wrong = booked([0])  # one booking short fails
    assert not verify_states(checks, initial, wrong).success


def test_no_shipped_check_names_a_drawn_code() -> None:
    for name, task in ((n, t) for n, d in DOMAINS.items() for t in d.tasks):
        for check in task.checks:
            if check.kind == "row_exists":
                fields = DOMAINS[name].spec.entities[str(check.entity)].fields
                assert not [f for f in check.where if fields[f].pattern and f != "last_four"], (task.id, check.where)


def test_a_one_stop_trip_is_named_by_its_route_and_booking_part_of_it_fails() -> None:
    """Two flights a pairs search finds together are asked for as "the one-stop trip from A to B"; the
    reference finds them with that search, and booking only the first flight earns nothing."""
    checked = 0
    for domain, task in episodes("action"):
        spec = domain.spec
        searches = [c for c in task.solution if spec.tools[c.tool].search is not None and spec.tools[c.tool].search.pairs is not None]  # type: ignore[union-attr]
        if not searches:
            continue
        pairs = spec.tools[searches[0].tool].search.pairs  # type: ignore[union-attr]
        assert pairs is not None and pairs.phrase is not None
        origin, destination = searches[0].arguments["origin"], searches[0].arguments["destination"]
        assert f"the one-stop trip from {origin} to {destination}" in task.instruction, task.id
        book = next(c for c in task.solution if c.tool == "book_reservation" and len(c.arguments["flight_ids"]) == 2)
        with prose(domain, task) as ep:
            for call in task.solution:
                args = {**call.arguments, "flight_ids": call.arguments["flight_ids"][:1]} if call is book else call.arguments
                ep.call(call.tool, args)
            assert wrong_work(ep.verify()), task.id
        checked += 1
    assert checked >= 1


# ---------------------------------------------------------------- prose shortcuts over every question


def test_negated_hedged_bounded_or_doubled_answers_earn_nothing_and_quoted_ones_everything() -> None:
    """On the prose channel, over every shipped question: the right value negated, hedged, given as a
    bound, or beside a second candidate written another way pays nothing; the right value in quotes pays."""
    for domain, task in episodes("information"):
        check = answer_check(task)
        assert check is not None
        value = format_answer_value(check.value)
        shortcuts = [f"I'm not sure. Maybe {value}?", f"Possibly {value}, I think."]
        if check.answer_type != "boolean":  # "not no" is not a negation anyone writes
            shortcuts.append(f"It is not {value}.")
        if check.answer_type in ("money", "number"):
            shortcuts += [f"At least {value}.", f"{value}, or maybe {format_answer_value(check.value + 7)} in all."]
        other = wrong_value(check)
        if other is not None and check.answer_type != "boolean":
            shortcuts.append(f"Either {value} or {format_answer_value(other)}.")
        with prose(domain, task) as ep:
            replay(ep, task)
            for answer in shortcuts:
                assert no_real_work(ep.verify(answer=answer)), (task.id, answer)
            if check.answer_type in ("enum", "text", "code", "date"):
                for quoted in (f"It's '{value}'.", f"It is “{value}”."):
                    assert ep.verify(answer=quoted).success, (task.id, quoted)
