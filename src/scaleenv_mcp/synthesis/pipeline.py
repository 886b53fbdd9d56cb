"""From domain names to shipped domains: propose through an LLM, gate, write, compile.

A proposal that validates but fails the procedural gate is kept under
``synthesis/rejected/`` for a person to read, and nothing else is written for it; one that
passes becomes ``synthesis/domains/<name>.yaml`` and is compiled exactly like a hand-written
blueprint. Every outcome is a value; the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
import yaml

from ..build.codegen import write_index
from ..build.pipeline import CompiledDomain, GateFailed, compile_spec, emit, relative_source
from ..build.proctest import gate
from ..spec.load import parse_blueprint
from ..spec.paths import ProjectPaths
from .proposer import Proposal, SynthesisFailed, domain_name, near_duplicates, propose_domain

__all__ = ["NameOutcome", "propose_in_project", "synthesize_names"]


@dataclass
class NameOutcome:
    """What became of one domain name."""

    name: str
    status: Literal["written", "never_validated", "rejected", "skipped"]
    proposal: Proposal | None = None
    compiled: CompiledDomain | None = None
    blueprint: Path | None = None
    changed: list[Path] = field(default_factory=list)
    error: str = ""
    twin: str = ""
    """for a skipped name: the earlier name it is near-identical to"""


def propose_in_project(
    name: str,
    paths: ProjectPaths,
    *,
    model: str,
    seed: int = 0,
    count_tools: int = 10,
    max_repairs: int = 2,
    api_base: str | None = None,
    api_key: str | None = None,
) -> Proposal:
    """A validated proposal for one name, with the project's prompt templates and LLM cache."""
    return anyio.run(
        lambda: propose_domain(
            name, model=model, prompts=paths.prompts, cache_dir=paths.root / ".scaleenv-cache" / "llm",
            seed=seed, count_tools=count_tools, max_repairs=max_repairs, api_base=api_base, api_key=api_key,
        )
    )  # fmt: skip


def synthesize_names(
    names: Sequence[str],
    paths: ProjectPaths,
    *,
    model: str,
    seed: int = 0,
    count_tools: int = 10,
    max_repairs: int = 2,
    api_base: str | None = None,
    api_key: str | None = None,
    tasks: int = 32,
    task_seed: int = 0,
    allow_failing: bool = False,
    on_outcome: Callable[[NameOutcome], None] | None = None,
) -> list[NameOutcome]:
    """Synthesize each name (near-duplicates skipped); raise ``LLMError`` when the model is unreachable."""
    kept, dropped = near_duplicates(list(names))
    outcomes = [NameOutcome(name=name, status="skipped", twin=twin) for name, twin in dropped]
    for outcome in outcomes:
        if on_outcome is not None:
            on_outcome(outcome)
    for name in kept:
        outcome = _one(name, paths, model=model, seed=seed, count_tools=count_tools, max_repairs=max_repairs,
                       api_base=api_base, api_key=api_key, tasks=tasks, task_seed=task_seed,
                       allow_failing=allow_failing)  # fmt: skip
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    write_index(paths)
    return outcomes


def _one(
    name: str,
    paths: ProjectPaths,
    *,
    model: str,
    seed: int,
    count_tools: int,
    max_repairs: int,
    api_base: str | None,
    api_key: str | None,
    tasks: int,
    task_seed: int,
    allow_failing: bool,
) -> NameOutcome:
    target = paths.blueprints / f"{domain_name(name)}.yaml"
    try:
        proposal = propose_in_project(
            name, paths, model=model, seed=seed, count_tools=count_tools, max_repairs=max_repairs,
            api_base=api_base, api_key=api_key,
        )  # fmt: skip
    except SynthesisFailed as exc:
        return NameOutcome(name=name, status="never_validated", proposal=exc.proposal, error=str(exc))
    spec = parse_blueprint(proposal.blueprint, str(target))
    report = gate(spec)
    text = yaml.safe_dump(proposal.blueprint, sort_keys=False, allow_unicode=True, width=110)
    if not report.passed and not allow_failing:
        rejected = paths.root / "synthesis" / "rejected" / target.name
        rejected.parent.mkdir(parents=True, exist_ok=True)
        rejected.write_text(text, encoding="utf-8")
        return NameOutcome(name=name, status="rejected", proposal=proposal, blueprint=rejected, error=str(GateFailed(report)))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    compiled = compile_spec(spec, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing, report=report)
    changed = emit(compiled, paths, relative_source(target, paths.root))
    return NameOutcome(name=name, status="written", proposal=proposal, compiled=compiled, blueprint=target, changed=changed)
