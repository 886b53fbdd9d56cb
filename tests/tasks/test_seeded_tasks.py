"""A state per task: every task starts from the domain seeded with its own seed, fresh tasks come
from new seeds for as long as asked, and the split (train / validation / test) follows from the seed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.cli import main
from scaleenv_mcp.compiler.pipeline import HELD_OUT_DOMAINS, task_split
from scaleenv_mcp.episodes.coordinator import Coordinator, EpisodeError
from scaleenv_mcp.spec.task import ANSWER_TOOL, TaskSpec

from ..conftest import SHIPPED

RETAIL = se.load("retail")


def _pays_the_reference(domain: se.Domain, task: TaskSpec) -> bool:
    """Replay the reference (typed answer included) on the task's own episode; nothing earns 0 first."""
    with domain.episode(task) as ep:
        assert ep.verify().reward == 0.0, task.id  # doing nothing earns nothing
        for call in task.solution:
            assert ep.call(call.tool, call.arguments).ok, (task.id, call)
        check = next((c for c in task.checks if c.kind == "answer"), None)
        if check is not None:
            assert ep.call(ANSWER_TOOL, {"answer": check.value}).ok
        return ep.verify().success


def test_shipped_tasks_come_from_eight_seeds_whose_states_differ_and_each_task_verifies_on_its_own() -> None:
    for name in SHIPPED:
        domain = se.load(name)
        seeds = {t.initial_state["seed"] for t in domain.tasks}
        assert len(domain.tasks) >= 48 and len(seeds) >= 8, (name, seeds)
        bare = {t.initial_state["seed"]: t.initial_state["sha256"] for t in domain.tasks if "distractors" not in t.initial_state}
        assert len(set(bare.values())) == len(bare), name  # a state per seed (tasks with distractors add theirs to it)
    coordinator = Coordinator(RETAIL.spec, RETAIL.tasks)
    images = {seed: coordinator.image(seed) for seed in {t.initial_state["seed"] for t in RETAIL.tasks}}
    assert len(set(images.values())) == len(images)
    for task in RETAIL.tasks[::5]:
        ep = coordinator.start(task.id)
        assert (ep.initial == images[task.initial_state["seed"]]) is ("distractors" not in task.initial_state)
        if "distractors" not in task.initial_state:  # with distractors the sha256 hashes the recipe (the seed's image and the rows added)
            assert hashlib.sha256(ep.initial).hexdigest() == task.initial_state["sha256"]
        coordinator.end(ep.id)
        assert _pays_the_reference(RETAIL, task), task.id


def test_generate_tasks_is_lazy_and_its_ids_stay_unique_across_seeds() -> None:
    asked: list[int] = []

    def seeds() -> Iterator[int]:
        for seed in range(100, 10_000):
            asked.append(seed)
            yield seed

    stream = RETAIL.generate_tasks(seeds=seeds(), per_seed=3)
    assert asked == []  # nothing is seeded before a task is drawn
    first = [next(stream) for _ in range(4)]
    assert asked == [100, 101]  # the fourth task needs the second state only
    more = list(RETAIL.generate_tasks(7, seeds=range(102, 10_000), per_seed=3))
    ids = [t.id for t in [*first, *more]]
    assert len(more) == 7 and len(set(ids)) == 11 and ids[:4] == [f"retail-s100-00{i}" for i in (1, 2, 3)] + ["retail-s101-001"]
    assert {t.initial_state["seed"] for t in more} == {102, 103, 104}
    assert len(set(ids) & {t.id for t in RETAIL.tasks}) == 0  # never mistaken for a shipped task
    # reproducible: the same seed gives the same tasks
    again = list(RETAIL.generate_tasks(3, seeds=[100], per_seed=3))
    assert [t.model_dump() for t in again] == [t.model_dump() for t in first[:3]]
    with pytest.raises(ValueError, match="at least 0"):
        RETAIL.generate_tasks(-1)


@pytest.mark.parametrize("name", ["retail", "airline", "library_loans"])
def test_the_reference_succeeds_on_every_task_of_three_fresh_seeds_and_nothing_earns_nothing(name: str) -> None:
    domain = se.load(name)
    fresh = [domain.spec.seed + 1000 + k for k in range(3)]
    tasks = list(domain.generate_tasks(seeds=fresh, per_seed=4))
    assert {t.initial_state["seed"] for t in tasks} == set(fresh) and len(tasks) == 12
    for task in tasks:
        assert _pays_the_reference(domain, task), task.id


def test_the_oracle_agent_succeeds_over_mcp_on_fresh_seeds_tasks_and_noop_earns_nothing(tmp_path: Path) -> None:
    """The harness runs generated tasks as it runs stored ones: each on its own seed's state."""
    import anyio

    from scaleenv_mcp.harness.agents import NoopAgent, OracleAgent
    from scaleenv_mcp.harness.results import ResultStore
    from scaleenv_mcp.harness.runner import EvalPlan, run_eval

    tasks = list(RETAIL.generate_tasks(seeds=[2001, 2002, 2003], per_seed=2))
    root = Path(__file__).resolve().parents[2]
    for agent, success in ((OracleAgent({t.id: t for t in tasks}), True), (NoopAgent(), False)):
        plan = EvalPlan(root=root, tasks=tasks, agent=agent)
        records = anyio.run(run_eval, plan, ResultStore(tmp_path / agent.name, resume=False, agent=agent.name))
        assert len(records) == 6 and all(r.success is success for r in records), [(r.task_id, r.reward) for r in records]
        if not success:
            assert all(r.reward == 0.0 for r in records)


def test_the_coordinator_refuses_a_task_whose_sha_is_not_its_seeds_image() -> None:
    task = next(t for t in RETAIL.tasks if t.initial_state["seed"] != RETAIL.spec.seed)
    moved = task.model_copy(update={"id": "moved", "initial_state": {**task.initial_state, "seed": task.initial_state["seed"] + 1}})
    coordinator = Coordinator(RETAIL.spec, [moved])  # another seed's task is checked lazily, when it starts
    with pytest.raises(EpisodeError, match="made for another initial state"):
        coordinator.start("moved")
    own = next(t for t in RETAIL.tasks if t.initial_state["seed"] == RETAIL.spec.seed)
    wrong = own.model_copy(update={"initial_state": {**own.initial_state, "sha256": "0" * 64}})
    with pytest.raises(EpisodeError, match="made for another initial state"):
        Coordinator(RETAIL.spec, [wrong]).start(wrong.id)  # checked at once, or (a task with distractors) when it starts
    fresh = next(RETAIL.generate_tasks(1, seeds=[555]))
    with pytest.raises(EpisodeError, match="made for another initial state"):
        RETAIL.episode(fresh.model_copy(update={"id": "x", "initial_state": {**fresh.initial_state, "seed": 556}}))


def test_the_split_follows_the_seed_is_in_the_manifest_and_holds_out_whole_domains() -> None:
    root = Path(__file__).resolve().parents[2]
    for name in SHIPPED:
        domain = se.load(name)
        manifest = json.loads((root / "manifests" / f"{name}.json").read_text())["split"]
        by_split = {s: [t.id for t in domain.tasks if task_split(domain.spec, t) == s] for s in ("train", "validation", "test")}
        assert manifest["tasks"] == by_split, name
        if name in HELD_OUT_DOMAINS:
            assert manifest["held_out_domain"] and by_split["test"] == [t.id for t in domain.tasks]
            continue
        assert manifest["seeds"] == {"train": [domain.spec.seed + k for k in range(6)], "validation": [domain.spec.seed + 6],
                                     "test": [domain.spec.seed + 7]}  # fmt: skip
        assert len(by_split["train"]) == 36 and len(by_split["validation"]) == len(by_split["test"]) == 6, name
    # a fresh seed's split is known from its seed alone, the same way every time
    tasks = list(RETAIL.generate_tasks(seeds=[RETAIL.spec.seed + 14, RETAIL.spec.seed + 15, RETAIL.spec.seed + 16], per_seed=1))
    assert [task_split(RETAIL.spec, t) for t in tasks] == ["validation", "test", "train"]


def test_tasks_seeds_streams_fresh_tasks_and_refuses_a_bad_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "retail", "--seeds", "40-42", "--count", "2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [f"retail-s{s}-00{i}" for s in (40, 41, 42) for i in (1, 2)]
    assert [r["initial_state"]["seed"] for r in rows] == [40, 40, 41, 41, 42, 42] and all(r["split"] for r in rows)
    with pytest.raises(SystemExit):
        main(["tasks", "retail", "--seeds", "9-3"])
    assert "0 <= A <= B" in capsys.readouterr().err
