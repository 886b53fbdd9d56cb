"""``python -m bench.answer_shortcuts [--module PATH] [--show N]``: what the prose answer grader pays for.

For every shipped task whose checks include an answer (manifests/*.tasks.jsonl), it writes
answers a shortcut-taking agent would give (the value negated, hedged, bounded, or beside a
second candidate in another format) and answers a correct agent would give in other words
(quoted, another format, another spelling, a clause about the action, an unrelated extra
sentence), and counts how many of each ``answer_matches`` pays. A shortcut should pay 0; a
correct variant should pay every time.

``--module`` grades with another copy of answers.py (e.g. the one before a change:
``git show HEAD~3:src/scaleenv_mcp/tasks/answers.py > /tmp/before.py``), so the two counts
come from the same answers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUOTES = [("'", "'"), ('"', '"'), ("‘", "’"), ("“", "”"), ("`", "`"), ("«", "»")]


def load(path: str | None) -> ModuleType:
    """The answers module to grade with: the installed one, or a copy of its source at ``path``."""
    if path is None:
        from scaleenv_mcp.tasks import answers

        return answers
    spec = importlib.util.spec_from_file_location("scaleenv_mcp.tasks._answers_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answer_checks() -> Iterator[tuple[str, dict[str, Any]]]:
    for manifest in sorted((ROOT / "manifests").glob("*.tasks.jsonl")):
        for line in manifest.read_text().splitlines():
            task = json.loads(line)
            for check in task["checks"]:
                if check["kind"] == "answer":
                    yield task["id"], check


def written(value: Any, kind: str) -> str:
    """The value as an agent would write it: money with a sign, an enum with spaces."""
    if kind == "money":
        return f"${float(value):,.2f}"
    if kind == "enum":
        return str(value).replace("_", " ")
    if kind == "boolean":
        return "yes" if value else "no"
    return str(value)


def rival(check: dict[str, Any]) -> str | None:
    """Another candidate of the same field, written in another format than the value."""
    value, kind = check["value"], check["answer_type"]
    if kind == "date":
        day = dt.date.fromisoformat(str(value)[:10]) + dt.timedelta(days=1)
        return f"{day:%B} {day.day}, {day.year}"
    if kind == "money":
        return f"{float(value) + 1:,.2f} dollars"
    if kind == "number":
        return "twenty" if value != 20 else "nineteen"
    if kind == "enum":
        others = [c for c in check["choices"] if c != value]
        return f"'{str(others[0]).upper()}'" if others else None
    if kind == "boolean":
        return "no" if value else "yes"
    return None


def shortcuts(check: dict[str, Any]) -> dict[str, list[str]]:
    kind = check["answer_type"]
    v = written(check["value"], kind)
    plain = str(check["value"])  # the unformatted value: 1679.94, 2026-03-07
    out: dict[str, list[str]] = {
        "hedged": [f"I'm not sure. Maybe {v}?", f"Possibly {v}.", f"I think it might be {v}.", f"{v}, I guess?"]
    }
    if kind != "boolean":
        out["negated"] = [f"It is not {v}.", f"The {' '.join(check['subject']) or 'answer'} isn't {v}.", f"Not {v}."]
    if kind in ("money", "number", "date"):
        out["bounded"] = [
            f"At least {v}.",
            f"More than {v}.",
            f"Up to {v}.",
            f"Under {v}.",
            f"{v} or more.",
            f"No more than {v}.",
        ]
    other = rival(check)
    if other is not None:
        out["two candidates"] = [f"{plain}, or maybe {other}.", f"Either {v} or {other}.", f"{v}, {other}", f"{plain} or {other}"]
    return out


def correct_variants(check: dict[str, Any]) -> dict[str, list[str]]:
    kind, value = check["answer_type"], check["value"]
    v = written(value, kind)
    out: dict[str, list[str]] = {"quoted": [f"It is {a}{v}{b}." for a, b in QUOTES]}
    if kind == "date":
        day = dt.date.fromisoformat(str(value)[:10])
        out["other format"] = [
            f"{day:%B} {day.day}, {day.year}",
            f"{day.day} {day:%b} {day.year}",
            f"{day:%d/%m/%Y}" if day.day > 12 else str(day),
        ]
    elif kind == "money":
        out["other format"] = [f"{float(value):.2f}", f"{float(value):,.2f} dollars", f"USD {float(value):,.2f}"]
    elif kind == "number" and isinstance(value, int) and 0 <= value <= 20:
        words = ["none", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                 "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]  # fmt: skip
        out["other format"] = [f"You have {words[value]}."]
    elif kind == "enum":
        others = [c for c in check["choices"] if c != value]
        out["action clause"] = [f"It's {v}, so it can no longer be {str(o).replace('_', ' ')}." for o in others[:2]]
        if "ll" in v:
            out["other spelling"] = [f"It is {v.replace('ll', 'l')}."]
    out["unrelated extra sentence"] = [f"It is {v}. Your reservation is not insured."]
    return out


def tally(
    matches: Callable[..., tuple[bool, str]], families: Callable[[dict[str, Any]], dict[str, list[str]]]
) -> tuple[Counter[str], Counter[str]]:
    paid: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    for _, check in answer_checks():
        for family, answers in families(check).items():
            for answer in answers:
                ok, _ = matches(answer, check["value"], check["answer_type"], choices=check["choices"], subject=check["subject"])
                tried[family] += 1
                paid[family] += ok
    return paid, tried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--module", help="grade with this copy of answers.py instead of the installed one")
    args = parser.parse_args()
    module = load(args.module)
    print(f"answer checks: {sum(1 for _ in answer_checks())}")
    for title, families in (("shortcuts (should pay 0)", shortcuts), ("correct variants (should all pay)", correct_variants)):
        paid, tried = tally(module.answer_matches, families)
        print(f"\n{title}")
        for family in sorted(tried):
            print(f"  {family:26} {paid[family]:5} / {tried[family]:5} paid")
        print(f"  {'total':26} {sum(paid.values()):5} / {sum(tried.values()):5} paid")


if __name__ == "__main__":
    main()
