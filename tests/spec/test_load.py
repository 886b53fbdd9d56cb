from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.spec import BlueprintError, load_blueprint, parse_blueprint

ROOT = Path(__file__).resolve().parents[2]


def retail_data() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())


def problems_of(data: Any) -> list[str]:
    with pytest.raises(BlueprintError) as info:
        parse_blueprint(data, "broken.yaml")
    assert "broken.yaml" in str(info.value)
    return [str(p) for p in info.value.problems]


def test_every_shipped_blueprint_is_a_rich_domain() -> None:
    files = sorted((ROOT / "synthesis/domains").glob("*.yaml"))
    assert len(files) >= 12
    for file in files:
        spec = load_blueprint(file)
        refs = [f for e in spec.entities.values() for f in e.fields.values() if f.type == "ref"]
        guarded_writes = [t for t in spec.tools.values() if t.is_write and t.requires]
        assert len(spec.entities) >= 4 and refs, file.name
        assert len(spec.tools) >= 10, file.name
        assert len(guarded_writes) >= 4, file.name
        assert len(spec.policy) > 200, file.name


def test_a_field_of_unknown_type_is_rejected_with_its_path() -> None:
    data = retail_data()
    data["entities"]["product"]["fields"]["stock"]["type"] = "integer"
    (problem,) = problems_of(data)
    assert problem.startswith("entities.product.fields.stock.type")
    assert "'int'" in problem  # says what is expected


def test_a_dangling_reference_is_rejected() -> None:
    data = retail_data()
    data["entities"]["order"]["fields"]["customer_id"]["ref"] = "client"
    problems = problems_of(data)
    assert any(p.startswith("entities.order.fields.customer_id.ref: unknown entity 'client'") for p in problems)


def test_an_effect_on_an_unknown_field_is_rejected() -> None:
    data = retail_data()
    data["tools"]["cancel_order"]["effects"][1] = "product.stok += order.quantity"
    problems = problems_of(data)
    assert any(
        p.startswith("tools.cancel_order.effects[1]: unknown field 'stok' on entity 'product'") for p in problems
    ), problems


def test_an_effect_of_the_wrong_type_is_rejected() -> None:
    data = retail_data()
    data["tools"]["cancel_order"]["effects"][2] = "order.status = 3"
    problems = problems_of(data)
    assert any("tools.cancel_order.effects[2]" in p and "order.status is enum" in p for p in problems), problems


def test_an_enum_value_outside_the_field_values_is_rejected() -> None:
    data = retail_data()
    data["tools"]["cancel_order"]["effects"][2] = "order.status = 'canceled'"
    problems = problems_of(data)
    assert any("'canceled' is not a value of order.status" in p for p in problems), problems


def test_an_unquoted_enum_value_gets_a_hint() -> None:
    data = retail_data()
    data["tools"]["place_order"]["effects"][1]["values"]["status"] = "pending"
    problems = problems_of(data)
    assert any("unknown name 'pending'" in p and "in quotes" in p for p in problems), problems


def test_a_rule_reading_an_unbound_row_is_rejected() -> None:
    data = retail_data()
    data["tools"]["pay_order"]["requires"][0]["check"] = "invoice.status == 'pending'"
    problems = problems_of(data)
    assert any(p.startswith("tools.pay_order.requires[0].check: unknown name 'invoice'") for p in problems)


def test_unknown_keys_and_missing_keys_are_named() -> None:
    data = retail_data()
    data["tools"]["get_order"]["parameters"] = {}
    del data["policy"]
    problems = problems_of(data)
    assert "tools.get_order.parameters: unknown key 'parameters'; did you mean 'params'?" in problems
    assert "policy: required key is missing" in problems


def test_a_file_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(BlueprintError, match=r"bad\.yaml"):
        load_blueprint(bad)
