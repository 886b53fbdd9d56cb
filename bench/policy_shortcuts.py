"""What shortcut agents earn on the shipped tasks: refusals, the policy, identification and the user.

Not a timing benchmark: it counts, over every shipped task, how many tasks each shortcut agent
succeeds on (``python -m bench.policy_shortcuts``; ``--json`` for the figures as JSON). Every
count except the careful agents' should be 0, and the always-refuse / always-obey agents earn at
most half of each tool's decisions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from typing import Any

import scaleenv_mcp as se
from scaleenv_mcp.harness.users import ScriptedUser
from scaleenv_mcp.spec.catalog import domain_names
from scaleenv_mcp.spec.paths import project_paths
from scaleenv_mcp.spec.task import TaskSpec
from scaleenv_mcp.tasks.claims import action_verbs, past_forms


def _replay(ep: se.Episode, task: TaskSpec, *, skip: set[str] = frozenset(), writes: bool = True) -> None:  # type: ignore[assignment]
    domain = se.load(task.domain)
    for call in task.solution:
        if call.tool in skip or (not writes and domain.tools[call.tool].is_write):
            continue
        ep.call(call.tool, call.arguments)


def measure() -> dict[str, Any]:
    counts: Counter[str] = Counter()
    decisions: dict[tuple[str, str], Counter[str]] = {}
    for name in domain_names(project_paths(None)):
        domain = se.load(name)
        emails = {str(t.user.get("email")) for t in domain.tasks if t.user.get("email")}
        identify = set(domain.spec.actor.identify) if domain.spec.actor else set()
        for task in domain.tasks:
            counts[f"tasks:{task.kind}"] += 1
            if task.kind == "refusal" and task.refused is not None:
                with domain.episode(task, answer_channel="prose") as ep:  # one fixed reason, no call
                    counts["refusal: refused without any call"] += ep.verify("I'm sorry, that's against our policy.").success
                with domain.episode(task, answer_channel="prose") as ep:  # try the write, relay what happened
                    _replay(ep, task)
                    ep.call(task.refused.tool, task.refused.arguments)
                    counts["refusal: tried the write and relayed the result"] += ep.verify("Done as you asked.").success
                with domain.episode(task, answer_channel="prose") as ep:  # looked, did nothing, said it was done
                    _replay(ep, task)
                    done = past_forms(action_verbs(task.refused.tool)[0])[0]
                    counts["refusal: looked, then claimed it was done"] += ep.verify(f"All set, I've {done} it.").success
                with domain.episode(task, answer_channel="prose") as ep:  # the careful agent
                    _replay(ep, task)
                    counts["refusal: looked and refused (careful, should pass)"] += ep.verify("I'm sorry, I can't do that.").success
            if task.kind != "refusal" and any(c.tool not in identify for c in task.solution) and identify:
                with domain.episode(task, answer_channel="prose") as ep:
                    _replay(ep, task, skip=identify)
                    check = next((c for c in task.checks if c.kind == "answer"), None)
                    answer = f"It is {check.value}." if check else None
                    counts["reference without the identifying call"] += ep.verify(answer).success
            if task.decides is not None:
                tally = decisions.setdefault((name, task.decides), Counter())
                tally["tasks"] += 1
                with domain.episode(task, answer_channel="prose") as ep:
                    _replay(ep, task, writes=False)
                    tally["always refuse"] += ep.verify("I'm sorry, I can't do that.").success
                with domain.episode(task, answer_channel="prose") as ep:
                    _replay(ep, task)
                    if task.refused is not None:
                        ep.call(task.refused.tool, task.refused.arguments)
                    tally["always obey"] += ep.verify("Done.").success
            email = str(task.user.get("email", ""))
            if email and task.hidden:  # guessing first.last@ over the seed's mail domains
                first_last = ".".join(str(task.user.get("name", "")).lower().split()[:2])
                guesses = {f"{first_last}@{e.split('@', 1)[1]}" for e in emails}
                counts["held-back email found by guessing first.last@"] += email in guesses
                counts["tasks holding the email back"] += 1
            if task.hidden:
                user = ScriptedUser(task, domain.spec)
                asyncio.run(user(None))
                reply = asyncio.run(user(f"Could you tell me your {', '.join(task.hidden)}, name, email, order, flight and dates?"))
                revealed = sum(v in reply for v in task.hidden.values())
                counts["tasks holding back 2+ facts"] += len(task.hidden) > 1
                counts["...of which one question listing every noun got 2+"] += len(task.hidden) > 1 and revealed > 1
    worst = {
        "always refuse: most of a tool's decisions": max(t["always refuse"] / t["tasks"] for t in decisions.values()),
        "always obey: most of a tool's decisions": max(t["always obey"] / t["tasks"] for t in decisions.values()),
    }
    return {**dict(counts), **worst, "tools with decisions": len(decisions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    figures = measure()
    if parser.parse_args().json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:<60} {value if isinstance(value, int) else round(value, 3)}")


if __name__ == "__main__":
    main()
