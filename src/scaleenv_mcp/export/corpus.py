"""The corpus at a glance: what each shipped domain holds, how the domains spread over industries,
which tools and domains say nearly the same thing, and how far each is from tau2-bench's.

People choose domains to train and to hold out. A table of counts per domain shows where a
corpus is thin (few tools, no agent-kept rules, no refusals); near-duplicate tools and domains
show where it only looks broad; the distance of each domain to tau2-bench's airline, retail and
telecom tool sets lets an evaluation hold out the domains nearest to the benchmark it reports on.

Similarity is TF-IDF over the words of tool names and descriptions, compared by cosine: a few
hundred short texts, so it is computed here rather than pulling in a machine-learning stack, and
no model is downloaded. The plot is a hand-written SVG for the same reason (one scatter, no
plotting library).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from typing import Any
from xml.sax.saxutils import escape

import networkx as nx

from ..spec.catalog import domain_names, load_domain, load_domain_tasks
from ..spec.graph import build_graph
from ..spec.model import DomainSpec
from ..spec.paths import ProjectPaths
from ..spec.task import TRAITS, TaskSpec
from ..tasks.stats import difficulty_label

__all__ = ["Corpus", "DomainFigures", "corpus_figures", "corpus_markdown", "corpus_of", "corpus_svg", "corpus_table"]

TOOL_TWIN = 0.8
"""Cosine at or above which two tools of different domains count as near duplicates."""
DOMAIN_TWIN = 0.6
"""Cosine at or above which two domains count as near duplicates."""
_STOP = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "if", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "this", "to", "was", "when", "which", "who", "with", "without", "your", "you", "all", "any", "can", "may", "must", "not", "one", "only"]
)


@dataclass(frozen=True)
class DomainFigures:
    """One domain's row of the corpus table."""

    name: str
    title: str
    industry: str
    setting: str
    made: str
    """how the blueprint was made (its provenance's method)"""
    entities: int
    tools: int
    writes: int
    nodes: int
    edges: int
    density: float
    tool_kept_rules: int
    agent_kept_rules: int
    tasks: int
    kinds: dict[str, int]
    traits: dict[str, int]
    difficulty: dict[str, int]
    distance: dict[str, float]
    """tau2-bench domain -> 1 - cosine between this domain's tool texts and that one's"""


@dataclass(frozen=True)
class Corpus:
    """Every shipped domain's figures and what holds across them."""

    domains: list[DomainFigures]
    industries: dict[str, int]
    outside_customer_service: int
    near_duplicate_tools: list[tuple[str, str, float]] = field(default_factory=list)
    near_duplicate_domains: list[tuple[str, str, float]] = field(default_factory=list)
    tau2_commit: str | None = None

    def totals(self) -> dict[str, Any]:
        n = len(self.domains) or 1
        return {
            "domains": len(self.domains),
            "industries": len(self.industries),
            "outside_customer_service": self.outside_customer_service,
            "tools": sum(d.tools for d in self.domains),
            "mean_tools": round(sum(d.tools for d in self.domains) / n, 1),
            "domains_with_50_tools": sum(1 for d in self.domains if d.tools >= 50),
            "tasks": sum(d.tasks for d in self.domains),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "totals": self.totals(),
            "industries": self.industries,
            "domains": [asdict(d) for d in self.domains],
            "near_duplicate_tools": [list(p) for p in self.near_duplicate_tools],
            "near_duplicate_domains": [list(p) for p in self.near_duplicate_domains],
            "tau2_commit": self.tau2_commit,
        }


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower().replace("_", " ")) if w not in _STOP and len(w) > 1]


class _Tfidf:
    """TF-IDF vectors of short texts, fitted on all of them at once."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        df: Counter[str] = Counter(w for doc in docs for w in set(doc))
        n = len(docs)
        self.idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}

    def vector(self, doc: Iterable[str]) -> dict[str, float]:
        tf = Counter(doc)
        vec = {w: c * self.idf.get(w, 1.0) for w, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {w: v / norm for w, v in vec.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(b) < len(a):
        a, b = b, a
    return sum(v * b.get(w, 0.0) for w, v in a.items())


def _tool_text(name: str, description: str) -> list[str]:
    return _words(name) * 2 + _words(description)  # the name weighs as much as a sentence of description


def tau2_tools() -> dict[str, Any]:
    """tau2-bench's tool names, kinds and first docstring paragraphs (stored with their commit)."""
    data: dict[str, Any] = json.loads(files(__package__).joinpath("tau2_tools.json").read_text(encoding="utf-8"))
    return data


def _figures(spec: DomainSpec, tasks: Sequence[TaskSpec], distance: dict[str, float]) -> DomainFigures:
    graph: nx.DiGraph = build_graph(spec)
    rules = [r for t in spec.tools.values() for r in t.requires]
    traits = Counter(t for task in tasks for t in task.traits)
    kinds = Counter(t.kind for t in tasks)
    labels = Counter(difficulty_label(t) for t in tasks)
    provenance = spec.provenance or {}
    return DomainFigures(
        name=spec.name,
        title=spec.title,
        industry=spec.industry or "unspecified",
        setting=spec.setting or "unspecified",
        made=str(provenance.get("method") or ("proposed by a model" if provenance.get("model") else "unrecorded")),
        entities=len(spec.entities),
        tools=len(spec.tools),
        writes=len(spec.write_tools()),
        nodes=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        density=round(nx.density(graph), 3) if graph.number_of_nodes() > 1 else 0.0,
        tool_kept_rules=sum(1 for r in rules if r.kept_by != "agent"),
        agent_kept_rules=sum(1 for r in rules if r.kept_by == "agent"),
        tasks=len(tasks),
        kinds={k: kinds[k] for k in ("action", "information", "refusal")},
        traits={t: traits[t] for t in TRAITS},
        difficulty={k: labels[k] for k in ("easy", "medium", "hard")},
        distance=distance,
    )


def corpus_figures(paths: ProjectPaths) -> Corpus:
    """The figures of every compiled domain under ``paths`` (its specs and stored tasks)."""
    specs = [load_domain(paths, name) for name in domain_names(paths)]
    return corpus_of(specs, {spec.name: load_domain_tasks(paths, spec.name) for spec in specs})


def corpus_of(specs: Sequence[DomainSpec], tasks: Mapping[str, Sequence[TaskSpec]]) -> Corpus:
    """The corpus figures of these domain specs and their tasks (by domain name; a domain without any has none)."""
    reference = tau2_tools()
    peers = [p for p in ("airline", "retail", "telecom") if p in reference]
    tool_docs = {(s.name, t): _tool_text(t, tool.description) for s in specs for t, tool in s.tools.items()}
    peer_docs = {p: [w for t in reference[p] for w in _tool_text(t["name"], t["description"])] for p in peers}
    domain_docs = {s.name: [w for (d, _), doc in tool_docs.items() if d == s.name for w in doc] for s in specs}
    model = _Tfidf([*tool_docs.values(), *peer_docs.values()])
    domain_vecs = {name: model.vector(doc) for name, doc in domain_docs.items()}
    peer_vecs = {p: model.vector(doc) for p, doc in peer_docs.items()}
    figures = [
        _figures(
            spec,
            tasks.get(spec.name, ()),
            {p: round(1 - _cosine(domain_vecs[spec.name], peer_vecs[p]), 3) for p in peers},
        )
        for spec in specs
    ]
    tool_vecs = {key: model.vector(doc) for key, doc in tool_docs.items()}
    keys = sorted(tool_vecs)
    twins_tools = [
        (f"{a[0]}.{a[1]}", f"{b[0]}.{b[1]}", round(c, 3))
        for i, a in enumerate(keys)
        for b in keys[i + 1 :]
        if a[0] != b[0] and (c := _cosine(tool_vecs[a], tool_vecs[b])) >= TOOL_TWIN
    ]
    names = sorted(domain_vecs)
    twins_domains = [
        (a, b, round(c, 3))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if (c := _cosine(domain_vecs[a], domain_vecs[b])) >= DOMAIN_TWIN
    ]
    industries = Counter(f.industry for f in figures)
    return Corpus(
        domains=figures,
        industries=dict(sorted(industries.items())),
        outside_customer_service=sum(1 for f in figures if f.setting not in ("customer_service", "unspecified")),
        near_duplicate_tools=sorted(twins_tools, key=lambda p: -p[2]),
        near_duplicate_domains=sorted(twins_domains, key=lambda p: -p[2]),
        tau2_commit=reference.get("commit"),
    )


def corpus_table(corpus: Corpus) -> str:
    """A plain-text table for the terminal: one line per domain, then what holds across the corpus."""
    head = ["domain", "industry", "ent", "tools", "writes", "nodes", "edges", "dens", "tool-kept", "agent-kept",
            "tasks", "act/inf/ref", "easy/med/hard", "to tau2 air/ret/tel"]  # fmt: skip
    rows = [
        [d.name, d.industry, str(d.entities), str(d.tools), str(d.writes), str(d.nodes), str(d.edges), f"{d.density:.2f}",
         str(d.tool_kept_rules), str(d.agent_kept_rules), str(d.tasks),
         "/".join(str(d.kinds[k]) for k in ("action", "information", "refusal")),
         "/".join(str(d.difficulty[k]) for k in ("easy", "medium", "hard")),
         "/".join(f"{d.distance.get(p, float('nan')):.2f}" for p in ("airline", "retail", "telecom"))]
        for d in corpus.domains
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    totals = corpus.totals()
    lines.append("")
    lines.append(
        f"{totals['domains']} domains in {totals['industries']} industries ({totals['outside_customer_service']} outside "
        f"customer service); {totals['tools']} tools (mean {totals['mean_tools']}; {totals['domains_with_50_tools']} "
        f"domains with 50 or more); {totals['tasks']} tasks"
    )
    traits = Counter({t: sum(d.traits.get(t, 0) for d in corpus.domains) for t in TRAITS})
    lines.append("traits over all tasks: " + ", ".join(f"{t.replace('_', ' ')} {n}" for t, n in traits.items()))
    lines.append(f"near-duplicate tools across domains (cosine >= {TOOL_TWIN}): {len(corpus.near_duplicate_tools)}"
                 + "".join(f"\n  {a} ~ {b} ({c:.2f})" for a, b, c in corpus.near_duplicate_tools[:10]))  # fmt: skip
    lines.append(f"near-duplicate domains (cosine >= {DOMAIN_TWIN}): {len(corpus.near_duplicate_domains)}"
                 + "".join(f"\n  {a} ~ {b} ({c:.2f})" for a, b, c in corpus.near_duplicate_domains))  # fmt: skip
    nearest = sorted(corpus.domains, key=lambda d: min(d.distance.values(), default=1.0))[:3]
    lines.append("nearest to tau2-bench (hold these out when reporting on it): "
                 + ", ".join(f"{d.name} ({min(d.distance, key=d.distance.__getitem__)} {min(d.distance.values()):.2f})"
                             for d in nearest if d.distance))  # fmt: skip
    return "\n".join(lines)


def corpus_markdown(corpus: Corpus) -> str:
    """The README's corpus table: domain, industry, tools, tasks, and a totals line."""
    lines = ["| Domain | Industry | Tools | Tasks |", "|---|---|---:|---:|"]
    lines += [f"| `{d.name}` | {d.industry} | {d.tools} | {d.tasks} |" for d in corpus.domains]
    t = corpus.totals()
    lines.append(f"| **{t['domains']} domains** | **{t['industries']} industries** | **{t['tools']}** | **{t['tasks']}** |")
    return "\n".join(lines) + "\n"


_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
            "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"]  # fmt: skip


def corpus_svg(corpus: Corpus, width: int = 760, height: int = 480) -> str:
    """Domains by tools (x) and entities (y), one dot each, coloured by industry, with a legend."""
    left, right, top, bottom = 56, 200, 24, 48
    xs = [d.tools for d in corpus.domains] or [0]
    ys = [d.entities for d in corpus.domains] or [0]
    x_max = max(10, math.ceil(max(xs) / 10) * 10)
    y_max = max(5, max(ys) + 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    colour = {ind: _PALETTE[i % len(_PALETTE)] for i, ind in enumerate(corpus.industries)}

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        return top + plot_h * (1 - y / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{left}" y1="{py(0)}" x2="{px(x_max)}" y2="{py(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{py(0)}" x2="{left}" y2="{py(y_max)}" stroke="black"/>']  # fmt: skip
    for x in range(0, x_max + 1, max(5, x_max // 10)):
        out.append(f'<text x="{px(x):.1f}" y="{py(0) + 16:.1f}" text-anchor="middle">{x}</text>')
    for y in range(0, y_max + 1, max(1, y_max // 8)):
        out.append(f'<text x="{left - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">tools</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2:.1f}" transform="rotate(-90 14 {top + plot_h / 2:.1f})" '
               'text-anchor="middle">entities</text>')  # fmt: skip
    for d in corpus.domains:
        out.append(f'<circle cx="{px(d.tools):.1f}" cy="{py(d.entities):.1f}" r="5" fill="{colour[d.industry]}" '
                   f'fill-opacity="0.8"><title>{escape(d.name)}: {d.tools} tools, {d.entities} entities '
                   f'({escape(d.industry)})</title></circle>')  # fmt: skip
    for i, (industry, c) in enumerate(colour.items()):
        y = top + 14 * i
        out.append(f'<circle cx="{width - right + 16}" cy="{y + 4}" r="4" fill="{c}"/>')
        out.append(f'<text x="{width - right + 26}" y="{y + 8}">{escape(industry)} ({corpus.industries[industry]})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
