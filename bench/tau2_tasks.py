"""``python -m bench.tau2_tasks --tau2 PATH [--write]``: what tau2-bench's airline and retail tasks ask of an agent.

The figures our task traits are compared with (``python -m bench.task_traits``). They are measured
from a tau2-bench checkout (``PATH``, the repository root) and stored in ``bench/tau2_task_figures.json``
with the commit they came from, so the comparison runs without the network or the checkout.

Method. Calls, writes and distinct tools per task come from each task's
``evaluation_criteria.actions`` (the calls tau2 grades against: its writes and the reads it
insists on, so its "calls" undercount what an agent runs). Kinds: *action* when a graded call
writes, else *information* when the task grades communicated values, else *refusal* (nothing may
change). Traits are read from the user's instructions (reason for calling + task instructions)
by the patterns below: a reading aid, not a judgment, since tau2 states them in free prose.
``hidden_facts`` and ``partial_refusal`` are not measurable from that prose and are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path
from typing import Any

STORED = Path(__file__).with_name("tau2_task_figures.json")

WRITES = {
    "airline": {
        "book_reservation", "cancel_reservation", "update_reservation_baggages", "update_reservation_flights",
        "update_reservation_passengers", "send_certificate",
    },
    "retail": {
        "cancel_pending_order", "exchange_delivered_order_items", "modify_pending_order_address",
        "modify_pending_order_items", "modify_pending_order_payment", "modify_user_address", "return_delivered_order_items",
    },
}  # fmt: skip
"""tau2's write tools (``@is_tool(ToolType.WRITE)`` in src/tau2/domains/<domain>/tools.py)."""

PATTERNS = {
    "branching": r"\bif\b",
    "change_of_mind": r"change your mind|changed? (?:his|her|your) mind|then (?:decide|change)|\bactually\b|\binstead\b",
    "push_back": r"\binsist|\bpersist|don.t accept|\bpush\b|be firm|\bargue",
    "compensation": r"compensat|certificate|voucher",
    "knows_no_id": r"(?:don.t|do not) (?:know|remember)|\bforg[eo]t",
}
"""Trait -> a pattern over the user's instructions (case-insensitive)."""


def figures(tasks: list[dict[str, Any]], writes: set[str]) -> dict[str, Any]:
    """Kinds, mean calls / writes / distinct tools per task, and trait shares, of one tau2 domain's tasks."""
    n = len(tasks)
    kinds = {"action": 0, "information": 0, "refusal": 0}
    calls = written = distinct = 0
    traits = dict.fromkeys([*PATTERNS, "reason", "multi_goal", "deep_information"], 0)
    information = 0
    for task in tasks:
        criteria = task.get("evaluation_criteria") or {}
        actions = [a["name"] for a in criteria.get("actions") or []]
        own_writes = [a for a in actions if a in writes]
        calls += len(actions)
        written += len(own_writes)
        distinct += len(set(actions))
        kind = "action" if own_writes else "information" if criteria.get("communicate_info") else "refusal"
        kinds[kind] += 1
        instructions = task["user_scenario"]["instructions"]
        text = " ".join(str(instructions.get(k) or "") for k in ("reason_for_call", "task_instructions"))
        for trait, pattern in PATTERNS.items():
            traits[trait] += bool(re.search(pattern, text, re.IGNORECASE))
        traits["reason"] += bool(instructions.get("reason_for_call"))
        traits["multi_goal"] += len(set(own_writes)) >= 2 or len(own_writes) >= 2
        if kind == "information":
            information += 1
            traits["deep_information"] += len(actions) >= 3
    shares = {t: round(c / n, 3) for t, c in traits.items() if t != "deep_information"}
    shares["deep_information"] = round(traits["deep_information"] / information, 3) if information else 0.0
    return {
        "tasks": n,
        "kinds": {k: round(v / n, 3) for k, v in kinds.items()},
        "mean_calls": round(calls / n, 2),
        "mean_writes": round(written / n, 2),
        "mean_distinct_tools": round(distinct / n, 2),
        "traits": shares,
    }


def measure(root: Path) -> dict[str, Any]:
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    out: dict[str, Any] = {"source": "tau2-bench data/tau2/domains/<domain>/tasks.json", "commit": commit.stdout.strip() or None}
    for domain, writes in WRITES.items():
        path = root / "data" / "tau2" / "domains" / domain / "tasks.json"
        out[domain] = figures(json.loads(path.read_text()), writes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau2", type=Path, required=True, help="a tau2-bench checkout (its repository root)")
    parser.add_argument("--write", action="store_true", help=f"store the figures in {STORED.name}")
    args = parser.parse_args()
    result = measure(args.tau2)
    print(json.dumps(result, indent=2))
    if args.write:
        STORED.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
