"""The generator's stages seen from outside: named rejections, the report, the typed mix."""

from __future__ import annotations

import pytest

from scaleenv_mcp.tasks.generation import DEFAULT_MIX, GenerationReport, Rejection, TaskMix, generate_tasks
from scaleenv_mcp.tasks.generation.acceptance import no_internal_id
from scaleenv_mcp.tasks.generation.goals import STRATEGIES

from ..conftest import shipped_spec


def test_every_candidate_not_kept_is_counted_under_the_rule_that_rejected_it() -> None:
    report = GenerationReport()
    tasks = generate_tasks(shipped_spec("clinic_appointments"), count=6, seed=1, report=report)
    assert sum(report.kept.values()) == len(tasks) == 6
    assert report.kept == {"action": 4, "information": 1, "refusal": 1}
    # a reference solution with a write the checks do not need: the minimality rule names it
    assert report.rejected[Rejection.NOT_MINIMAL] > 0
    assert report.rejected[Rejection.NO_BINDING] > 0
    assert report.rejected_json() == {r.value: n for r, n in report.rejected.items() if n}
    again = GenerationReport()
    assert generate_tasks(shipped_spec("clinic_appointments"), count=6, seed=1, report=again) == tasks
    assert again == report  # the same seed rejects the same candidates for the same reasons


def test_one_report_adds_up_several_generations() -> None:
    report = GenerationReport()
    generate_tasks(shipped_spec("hotel"), count=4, seed=0, report=report)
    first = sum(report.rejected.values())
    generate_tasks(shipped_spec("hotel"), count=4, seed=1, report=report)
    assert sum(report.kept.values()) == 8 and sum(report.rejected.values()) >= first


def test_an_internal_id_in_the_words_is_its_own_rejection() -> None:
    assert no_internal_id("Please cancel order ORD-0042 for me.") is Rejection.INTERNAL_ID_IN_INSTRUCTION
    assert no_internal_id("Please cancel my order of the blue kettle.") is None


def test_the_mix_decides_the_kinds_and_the_default_mix_is_the_shipped_one() -> None:
    only_questions = TaskMix(kinds={"information": 1.0})
    report = GenerationReport()
    tasks = generate_tasks(shipped_spec("hotel"), count=4, mix=only_questions, report=report)
    assert tasks and {t.kind for t in tasks} == {"information"}
    # questions are capped at a quarter of the set each, so the rest are rejected by that rule
    assert report.rejected[Rejection.TOOL_CAP] > 0
    assert generate_tasks(shipped_spec("hotel"), count=4) == generate_tasks(shipped_spec("hotel"), count=4, mix=DEFAULT_MIX)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kinds": {}}, "at least one kind"),
        ({"goals": {0: 1.0}}, "goal counts must be at least 1"),
        ({"hidden_share": 1.5}, "hidden_share must be a share from 0 to 1"),
        ({"family_min": {"hidden": 0.2}}, "family minima must name exactly"),
    ],
)
def test_a_mix_that_cannot_be_aimed_at_is_refused_in_one_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        TaskMix(**change)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_each_kind_of_task_has_a_goal_strategy() -> None:
    assert set(DEFAULT_MIX.kinds) <= set(STRATEGIES)
