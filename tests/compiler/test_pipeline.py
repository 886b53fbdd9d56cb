"""Broken blueprints fail cleanly: one line per problem, exit 2 (invalid) or 1 (gate), nothing written, bounded."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.cli import main

from ..conftest import ROOT

RETAIL: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())


def circular(d: dict[str, Any]) -> None:
    d["entities"]["customer"]["fields"]["favourite_order_id"] = {"type": "ref", "ref": "order"}


def impossible_unique(d: dict[str, Any]) -> None:
    d["entities"]["customer"]["fields"]["city"] = {"type": "enum", "values": ["a", "b"], "unique": True}


def division_by_zero(d: dict[str, Any]) -> None:
    d["entities"]["order"]["fields"]["total"]["derive"] = "product.price / 0"


def deep_expression(d: dict[str, Any]) -> None:
    d["tools"]["cancel_order"]["requires"][0]["check"] = " + ".join(["order.quantity"] * 1200) + " > 0"


def nested_expression(d: dict[str, Any]) -> None:
    d["tools"]["cancel_order"]["requires"][0]["check"] = "-" * 60 + "order.quantity > 0"


def wrong_typed_choices(d: dict[str, Any]) -> None:
    d["entities"]["product"]["fields"]["stock"]["choices"] = ["lots", "few"]


def huge_string_in_a_seed(d: dict[str, Any]) -> None:
    d["entities"]["product"]["fields"]["name"]["derive"] = "'x' * 200000000"


def huge_string_in_a_rule(d: dict[str, Any]) -> None:
    d["tools"]["update_customer_city"]["requires"][0]["check"] = "len('x' * 10000000000) > 1"


def too_many_rows(d: dict[str, Any]) -> None:
    d["entities"]["order"]["count"] = 900_000


CASES: list[tuple[Callable[[dict[str, Any]], None], int, str]] = [
    (circular, 2, "reference cycle customer -> order -> customer"),
    (impossible_unique, 2, "cannot make row 3 unique"),
    (division_by_zero, 2, "derive failed: cannot evaluate 'product.price / 0': float division by zero"),
    (deep_expression, 2, "expression of 20,401 characters; at most 2,000"),
    (nested_expression, 2, "nested deeper than 40 levels"),
    (wrong_typed_choices, 2, "entities.product.fields.stock.choices[0]: product.stock must be int, got 'lots'"),
    (huge_string_in_a_seed, 2, "the result would have 200,000,000 items; at most 100,000"),
    (huge_string_in_a_rule, 1, "never_succeeds in update_customer_city"),
    (too_many_rows, 2, "seed rows in all (counts); at most 200,000"),
]


@pytest.mark.parametrize(("edit", "code", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_broken_blueprint_gets_one_line_and_its_exit_code(
    edit: Callable[[dict[str, Any]], None], code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(RETAIL)
    data["name"] = "broken"
    edit(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["--root", str(tmp_path), "synth", "--blueprint", str(path)]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "servers").exists()


def alias_bomb(levels: int) -> str:
    lines = ["  a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(levels):
        this, prev = chr(98 + i), chr(97 + i)
        lines.append(f"  {this}: &{this} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_a_free_form_field_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "synthesis/domains/retail.yaml").read_text().replace("name: retail", "name: bomb")
    path = tmp_path / "bomb.yaml"
    path.write_text(text.replace("seed: 7\n", "seed: 7\nprovenance:\n" + alias_bomb(8), 1))
    assert main(["--root", str(tmp_path), "synth", "--blueprint", str(path)]) == 2
    err = capsys.readouterr().err
    assert "(yaml): " in err and "values once aliases are expanded; at most 500,000 are allowed" in err
    assert not (tmp_path / "servers").exists()


def test_a_file_too_large_to_be_a_blueprint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\ndescription: '" + "x" * 2_100_000 + "'\n")
    assert main(["--root", str(tmp_path), "synth", "--blueprint", str(path)]) == 2
    assert "a blueprint may have at most 2,000,000" in capsys.readouterr().err
