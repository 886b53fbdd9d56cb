"""``python -m bench.task_traits``: the shipped task sets beside tau2-bench's, trait by trait.

Per domain (from ``manifests/*.tasks.jsonl``): the kinds, calls / writes / distinct tools per
task, and each trait's share against the target of the default task mix; then tau2-bench's
airline and retail, measured by ``python -m bench.tau2_tasks`` (stored in
``bench/tau2_task_figures.json``, with the commit and the method). A trait tau2-bench's prose does
not let us count is shown as "n/m".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scaleenv_mcp.spec import ProjectPaths, load_domain
from scaleenv_mcp.spec.catalog import domain_names, load_domain_tasks
from scaleenv_mcp.spec.task import TRAITS
from scaleenv_mcp.tasks.generation.mix import DEFAULT_MIX
from scaleenv_mcp.tasks.stats import task_stats

ROOT = Path(__file__).resolve().parents[1]
STORED = Path(__file__).with_name("tau2_task_figures.json")
SHORT = {
    "branching": "branch", "partial_refusal": "part. refusal", "change_of_mind": "change mind", "push_back": "push back",
    "compensation": "compens.", "hidden_facts": "2+ facts held", "multi_goal": "2-3 goals", "deep_information": "info 3+ calls",
}  # fmt: skip


def _pct(share: float | None) -> str:
    return "n/m" if share is None else f"{share:.0%}"


def ours() -> list[dict[str, Any]]:
    paths = ProjectPaths(ROOT)
    rows = []
    for name in domain_names(paths):
        stats = task_stats(load_domain(paths, name), load_domain_tasks(paths, name))
        rows.append({
            "name": name, "tasks": stats["tasks"],
            "kinds": {k: v["share"] for k, v in stats["kinds"].items()},
            "mean_calls": stats["mean_calls"], "mean_writes": stats["mean_writes"], "mean_distinct_tools": stats["mean_distinct_tools"],
            "traits": {t: v["share"] for t, v in stats["traits"].items()},
            "met": {t: v["met"] for t, v in stats["traits"].items()},
            "persona_and_reason": stats["with_persona_and_reason"] / (stats["tasks"] or 1),
        })  # fmt: skip
    return rows


def table() -> str:
    peers: dict[str, Any] = json.loads(STORED.read_text())
    head = ["domain", "tasks", "act/inf/ref", "calls", "writes", "tools", "persona+reason", *(SHORT[t] for t in TRAITS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    targets = ["", "", "", "", "", "", "100%", *(_pct(DEFAULT_MIX.trait_targets.get(t)) if t in DEFAULT_MIX.trait_targets else "where a goodwill tool" for t in TRAITS)]
    lines.append("| **target** | " + " | ".join(targets[1:]) + " |")
    for row in ours():
        cells = [f"`{row['name']}`", str(row["tasks"]), "/".join(f"{row['kinds'][k]:.0%}" for k in ("action", "information", "refusal")),
                 f"{row['mean_calls']:.1f}", f"{row['mean_writes']:.1f}", f"{row['mean_distinct_tools']:.1f}", _pct(row["persona_and_reason"])]
        cells += [_pct(row["traits"][t]) + ("" if row["met"][t] in (True, None) else " ✗") for t in TRAITS]
        lines.append("| " + " | ".join(cells) + " |")
    for peer in ("airline", "retail"):
        f = peers[peer]
        cells = [f"tau2-bench {peer}", str(f["tasks"]), "/".join(f"{f['kinds'][k]:.0%}" for k in ("action", "information", "refusal")),
                 f"{f['mean_calls']:.1f}", f"{f['mean_writes']:.1f}", f"{f['mean_distinct_tools']:.1f}", _pct(f["traits"].get("reason"))]
        cells += [_pct(f["traits"].get(t)) for t in TRAITS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    print(table(), end="")
    peers = json.loads(STORED.read_text())
    print(f"\ntau2-bench figures: {peers['source']} at {peers['commit']} (python -m bench.tau2_tasks); ✗: below target; n/m: not measurable")


if __name__ == "__main__":
    main()
