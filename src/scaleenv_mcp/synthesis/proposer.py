"""From a domain name to a blueprint, through any LLM litellm supports.

Four stages, each a prompt template under ``synthesis/prompts/``: domain (description and
policy) -> entities -> tools -> seed-data hints. Each stage's JSON is validated against
our IR; the problems (with paths) are fed back for repair, a bounded number of rounds.
Every call is cached on disk by (endpoint, model, messages, seed), so a rerun costs nothing
and gives the same files. Nothing the LLM writes is executed: the result is a blueprint,
compiled and tested exactly like a hand-written one. A blueprint that validates but fails the
procedural gate goes back to the model once more per round with the gate's defects
(:func:`repair_proposal`, prompt ``repair.md``); the synthesis pipeline decides how many rounds.
Every fresh call is charged to an optional :class:`Budget` as it returns, so a run over many
names can stop starting new ones once it has spent what it was given.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..engine.seed import SeedError, seed_state
from ..errors import ScaleenvError
from ..llm import LLMError, ModelOptions, ResponseCache, add_usage, complete
from ..spec.load import parse_blueprint
from ..spec.model import DomainSpec, EntitySpec
from ..spec.problems import BlueprintError
from ..spec.validate import check_spec

__all__ = [
    "Budget",
    "LLMError",
    "Proposal",
    "SynthesisFailed",
    "domain_name",
    "near_duplicates",
    "propose_domain",
    "repair_proposal",
]

STAGES = ("domain", "entities", "tools", "seed")
_HINT_KEYS = ("sample", "choices", "range", "weights", "derive", "ref_where", "null_rate")


class SynthesisFailed(ScaleenvError, RuntimeError):
    """A stage never produced a valid answer within the repair rounds."""

    default_status = 502

    def __init__(self, name: str, stage: str, problems: list[str], proposal: Proposal) -> None:
        self.stage = stage
        self.problems = problems
        self.proposal = proposal
        lines = "\n".join(f"  - {p}" for p in problems[:12])
        super().__init__(
            f"{name}: the {stage} stage never validated after {proposal.repairs.get(stage, 0)} repair round(s):\n{lines}"
        )


@dataclass
class Proposal:
    """What the LLM proposed, and what it cost."""

    name: str
    model: str
    seed: int
    blueprint: dict[str, Any] = field(default_factory=dict)
    repairs: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    cached_calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost: float = 0.0
    templates: dict[str, str] = field(default_factory=dict)
    last_reply: str = ""
    """the model's last answer that did not validate (kept with a rejected proposal, for people)"""

    def provenance(self) -> dict[str, Any]:
        """Recorded in the blueprint (and so the manifest). Cost figures are kept out of it
        on purpose: a rerun from the cache must write identical files."""
        return {
            "synthesized_by": "scaleenv synth --from-name",
            "from_name": self.name,
            "model": self.model,
            "seed": self.seed,
            "prompt_templates": self.templates,
            "repair_rounds": self.repairs,
        }


def domain_name(text: str) -> str:
    """'Pet Grooming Salon!' -> 'pet_grooming_salon'."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    name = "_".join(words)[:48].strip("_")
    if not name or not name[0].isalpha():
        name = f"d_{name}"
    return name


class _DomainStage(BaseModel):
    title: str = Field(..., min_length=3, max_length=80)
    description: str = Field(..., min_length=20)
    policy: str = Field(..., min_length=40)


def _extract_json(text: str) -> Any:
    """The JSON object in a reply (models like code fences and preambles)."""
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    candidate = fenced.group(1) if fenced else text[text.find("{") : text.rfind("}") + 1]
    if not candidate:
        raise ValueError("the reply contains no JSON object")
    return json.loads(candidate)


@dataclass
class Budget:
    """What a run over many names may spend, and what it has spent so far (fresh calls only: an
    answer from the cache costs nothing). ``None`` limits mean no limit. The synthesis pipeline
    checks :meth:`spent` before it starts a name, never in the middle of one: a name half
    proposed would be money spent for nothing."""

    max_tokens: int | None = None
    max_cost: float | None = None
    tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0
    """fresh calls litellm knew no price for (their cost counts as 0, so ``max_cost`` cannot see them)"""

    def charge(self, tokens: int, cost: float | None) -> None:
        self.tokens += tokens
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost += cost

    def spent(self) -> bool:
        """Whether a limit has been reached."""
        over_tokens = self.max_tokens is not None and self.tokens >= self.max_tokens
        return over_tokens or (self.max_cost is not None and self.cost >= self.max_cost)


class _Session:
    def __init__(self, proposal: Proposal, cache: ResponseCache, options: ModelOptions, budget: Budget | None = None) -> None:
        self.proposal = proposal
        self.cache = cache
        self.options = options
        self.budget = budget

    async def ask(self, messages: list[dict[str, Any]]) -> str:
        p = self.proposal
        key = self.cache.key(p.model, messages, p.seed, api_base=self.options.api_base)
        hit = self.cache.get(key)
        if hit is not None:
            p.cached_calls += 1
            return str(hit["text"])
        response = await complete(p.model, messages, seed=p.seed, options=self.options)
        tokens = {"prompt": 0, "completion": 0}
        cost = add_usage(response, tokens)
        text = response.choices[0].message.content or ""
        self.cache.put(key, {"text": text, "tokens": tokens, "cost": cost})
        p.calls += 1
        p.tokens = {k: p.tokens[k] + tokens[k] for k in tokens}
        p.cost += cost or 0.0
        if self.budget is not None:
            self.budget.charge(sum(tokens.values()), cost)
        return text


async def _stage(session: _Session, stage: str, prompt: str, validate: Any, max_repairs: int, *, record: bool = True) -> Any:
    """Ask, validate, feed problems back; return the validated value. ``record``: count the
    repair rounds in the proposal's ``repairs`` under ``stage``."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You answer with one JSON object and nothing else."},
        {"role": "user", "content": prompt},
    ]
    proposal = session.proposal
    if record:
        proposal.repairs[stage] = 0
    problems: list[str] = []
    for round_ in range(max_repairs + 1):
        text = await session.ask(messages)
        try:
            data = _extract_json(text)
            if not isinstance(data, dict):
                raise ValueError("the reply must be a JSON object")
            problems = validate(data)
        except (ValueError, json.JSONDecodeError) as exc:
            problems = [f"(reply): not valid JSON: {exc}"]
        if not problems:
            return data
        proposal.last_reply = text
        if round_ == max_repairs:
            break
        if record:
            proposal.repairs[stage] = round_ + 1
        messages = [
            *messages,
            {"role": "assistant", "content": text},
            {
                "role": "user",
                "content": "That answer has these problems:\n"
                + "\n".join(f"- {p}" for p in problems[:20])
                + "\nReturn the corrected JSON object, complete, and nothing else.",
            },
        ]
    raise SynthesisFailed(proposal.name, stage, problems, proposal)


def _strip_hints(entities: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, entity in entities.items():
        entity = {k: v for k, v in entity.items() if k not in ("count", "seed_effects")}
        entity["fields"] = {
            f: {k: v for k, v in spec.items() if k not in _HINT_KEYS} for f, spec in dict(entity.get("fields", {})).items()
        }
        out[name] = entity
    return out


def _problems(exc: BlueprintError) -> list[str]:
    return [str(p) for p in exc.problems]


async def propose_domain(
    name_text: str,
    *,
    model: str,
    prompts: Path,
    cache_dir: Path,
    seed: int = 0,
    count_tools: int = 10,
    max_repairs: int = 2,
    llm: ModelOptions | None = None,
    budget: Budget | None = None,
) -> Proposal:
    """Run the four stages; return a validated blueprint (as data) and its provenance.

    Raises :class:`SynthesisFailed` when a stage never validates (its ``proposal.blueprint``
    holds what the stages before it gave), :class:`LLMError` when the model cannot be reached.
    """
    name = domain_name(name_text)
    proposal = Proposal(name=name_text, model=model, seed=seed)
    templates: dict[str, Template] = {}
    for stage in STAGES:
        path = prompts / f"{stage}.md"
        text = path.read_text(encoding="utf-8")
        templates[stage] = Template(text)
        proposal.templates[stage] = hashlib.sha256(text.encode()).hexdigest()[:16]
    session = _Session(proposal, ResponseCache(cache_dir), llm or ModelOptions(), budget)

    def check_domain(data: dict[str, Any]) -> list[str]:
        try:
            _DomainStage.model_validate(data)
            return []
        except ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]

    head = await _stage(session, "domain", templates["domain"].substitute(name=name_text), check_domain, max_repairs)
    base = {"name": name, "title": head["title"], "description": head["description"], "policy": head["policy"], "seed": seed}
    proposal.blueprint = dict(base)  # what a failure in a later stage leaves to read

    def check_entities(data: dict[str, Any]) -> list[str]:
        raw = data.get("entities")
        if not isinstance(raw, dict) or len(raw) < 2:
            return ["entities: expected an object with at least 2 entities"]
        try:
            entities = {k: EntitySpec.model_validate(v) for k, v in raw.items()}
        except ValidationError as exc:
            return [f"entities.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        partial = DomainSpec.model_construct(name=name, entities=entities, tools={}, clock="2026-03-16T09:00:00")
        return [str(p) for p in check_spec(partial)]

    ents = await _stage(
        session, "entities",
        templates["entities"].substitute(name=name_text, description=head["description"], policy=head["policy"]),
        check_entities, max_repairs,
    )  # fmt: skip
    entities = _strip_hints(ents["entities"])
    proposal.blueprint = {**base, "entities": entities}

    def check_tools(data: dict[str, Any]) -> list[str]:
        try:
            parse_blueprint({**base, "entities": entities, "tools": data.get("tools")}, "tools")
            return []
        except BlueprintError as exc:
            return _problems(exc)

    tools = await _stage(
        session, "tools",
        templates["tools"].substitute(name=name_text, policy=head["policy"], entities=json.dumps(entities),
                                      count_tools=count_tools),
        check_tools, max_repairs,
    )  # fmt: skip
    tools = tools["tools"]
    proposal.blueprint = {**base, "entities": entities, "tools": tools}

    def merged(data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(entities))
        for ename, hints in dict(data.get("entities") or {}).items():
            if ename not in out or not isinstance(hints, dict):
                continue
            if "count" in hints:
                out[ename]["count"] = hints["count"]
            for fname, fh in dict(hints.get("fields") or {}).items():
                if fname in out[ename]["fields"] and isinstance(fh, dict):
                    out[ename]["fields"][fname].update({k: v for k, v in fh.items() if k in _HINT_KEYS})
        return out

    def check_seed(data: dict[str, Any]) -> list[str]:
        try:
            spec = parse_blueprint({**base, "entities": merged(data), "tools": tools}, "seed")
            seed_state(spec).close()
            return []
        except BlueprintError as exc:
            return _problems(exc)
        except SeedError as exc:
            return [f"seed: {exc}"]

    hints = await _stage(
        session, "seed",
        templates["seed"].substitute(name=name_text, entities=json.dumps(entities), tools=json.dumps(tools)),
        check_seed, max_repairs,
    )  # fmt: skip
    proposal.blueprint = {**base, "entities": merged(hints), "tools": tools}
    proposal.blueprint["provenance"] = proposal.provenance()
    return proposal


MAX_DEFECTS_SENT = 30
"""gate lines sent back in one repair round (a broken tool can fail the same way on every seed)"""


async def repair_proposal(
    proposal: Proposal,
    defects: list[str],
    *,
    prompts: Path,
    cache_dir: Path,
    max_repairs: int = 2,
    llm: ModelOptions | None = None,
    budget: Budget | None = None,
) -> Proposal:
    """One gate-repair round: the blueprint and the gate's ``defects`` (each with its reproduce
    line, as ``DomainReport.reasons()`` words them) go back to the model, which answers with the
    corrected policy, entities (with seed hints) and tools. The answer is validated like a stage
    (up to ``max_repairs`` rounds for validation problems) and replaces ``proposal.blueprint``;
    gating it again is the caller's job. Raises :class:`SynthesisFailed` (stage ``repair``) when
    the answer never validates, :class:`LLMError` when the model cannot be reached."""
    path = prompts / "repair.md"
    if not path.is_file():
        raise SynthesisFailed(proposal.name, "repair", [f"no prompt template {path}"], proposal)
    text = path.read_text(encoding="utf-8")
    proposal.templates["repair"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    session = _Session(proposal, ResponseCache(cache_dir), llm or ModelOptions(), budget)
    current = {k: v for k, v in proposal.blueprint.items() if k != "provenance"}
    base: dict[str, Any] = {k: current[k] for k in ("name", "title", "description", "seed") if k in current}
    shown = defects[:MAX_DEFECTS_SENT] + ([f"(and {len(defects) - MAX_DEFECTS_SENT} more)"] if len(defects) > MAX_DEFECTS_SENT else [])

    def check(data: dict[str, Any]) -> list[str]:
        try:
            spec = parse_blueprint({**base, "policy": data.get("policy", current.get("policy")),
                                    "entities": data.get("entities"), "tools": data.get("tools")}, "repair")  # fmt: skip
            seed_state(spec).close()
            return []
        except BlueprintError as exc:
            return _problems(exc)
        except SeedError as exc:
            return [f"seed: {exc}"]

    prompt = Template(text).substitute(
        name=proposal.name, blueprint=json.dumps(current), defects="\n".join(f"- {line}" for line in shown)
    )
    fixed = await _stage(session, "repair", prompt, check, max_repairs, record=False)
    proposal.blueprint = {**base, "policy": fixed.get("policy", current.get("policy")), "entities": fixed["entities"],
                          "tools": fixed["tools"]}  # fmt: skip
    proposal.blueprint["provenance"] = proposal.provenance()
    return proposal


def near_duplicates(names: list[str], threshold: float = 0.75) -> tuple[list[str], list[tuple[str, str]]]:
    """Keep the first of near-identical names (same words, up to plurals; word overlap >= threshold)."""

    def words(text: str) -> set[str]:
        return {w.removesuffix("s") for w in re.findall(r"[a-z0-9]+", text.lower())}

    kept: list[str] = []
    dropped: list[tuple[str, str]] = []
    for name in names:
        w = words(name)
        twin = next((k for k in kept if (len(w & words(k)) / max(1, len(w | words(k)))) >= threshold), None)
        if twin is None:
            kept.append(name)
        else:
            dropped.append((name, twin))
    return kept, dropped
