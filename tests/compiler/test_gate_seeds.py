"""A gate seed the blueprint cannot fill is one line of the report, and the other seeds still run."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scaleenv_mcp.compiler.proctest import gate
from scaleenv_mcp.spec import parse_blueprint
from scaleenv_mcp.spec.load import load_blueprint

from ..conftest import ROOT, SHIPPED


def sparse_retail() -> dict[str, Any]:
    """Retail with three orders: on gate seed 1 (data seed 8, retail seeds with 7) none is delivered, so no return request can be seeded."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["entities"]["order"]["count"] = 3
    data["entities"]["return_request"]["count"] = 1
    data["entities"]["payment"]["count"] = 1
    data["entities"]["payment"]["fields"]["order_id"]["ref_where"] = "status != 'x'"
    return data


def test_an_unseedable_gate_seed_is_one_line_naming_the_seed_and_the_problem() -> None:
    report = gate(parse_blueprint(sparse_retail()), seeds=3, calls_per_tool=4)
    assert not report.passed
    assert report.seeds == [0, 2]  # the seeds that ran
    (unseedable,) = [d for d in report.defects if d.kind == "unseedable"]
    assert unseedable.seed == 1
    lines = [line for line in report.reasons() if line.startswith("unseedable")]
    assert lines == [
        "unseedable seed data, gate seed 1 (data seed 8): retail.return_request.order_id: no order rows match ref_where; "
        "raise its count or relax ref_where"
    ]
    assert "unseedable (seed 1)" in report.summary()["defects"]
    assert all(report.tools[t].calls > 0 for t in report.tools)  # seeds 0 and 2 still exercised every tool


@pytest.mark.e2e
@pytest.mark.parametrize("domain", SHIPPED)
def test_every_shipped_blueprint_passes_the_gate_under_its_name_and_under_another(domain: str) -> None:
    """Every run gates every domain (the rotation only samples which are recompiled byte for byte).
    Under another name the seed draws other data: what holds there does not lean on one draw."""
    spec = load_blueprint(ROOT / "synthesis/domains" / f"{domain}.yaml")
    for name in (domain, f"other_{domain}"[:48]):
        report = gate(spec.model_copy(update={"name": name}), seeds=1, calls_per_tool=6)
        assert report.passed, (name, report.reasons())
