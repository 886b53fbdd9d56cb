"""A static HTML site from eval run folders: what ``scaleenv report RUN... --html DIR`` writes.

People judge an agent by reading what it did, not by a pass@1 column, so the site has three
kinds of page, all plain files that open from ``file://`` with no server, no network and no
JavaScript:

- ``index.html``: per run and per domain pass@1, pass^k (k up to the run's trials) and mean
  reward, the reward distribution of each run, a run-vs-run comparison per domain and per task,
  and a link to every episode;
- ``episodes/...html``: one per episode, with the conversation, each tool call and its result,
  every check passed or failed, and the state diff when the record carries one (records written
  by ``scaleenv eval`` keep the verdict's checks but not its diff; the page says so rather than
  guess one);
- ``domains/<domain>.html``: the domain's tool dependency graph, laid out here in layers and drawn
  as SVG (no Graphviz), and the mix of its stored tasks (kinds and difficulty).

The figures are computed with :func:`~scaleenv_mcp.harness.results.summarize`, the function
``eval`` writes ``summary.json`` with, from the latest record of each episode. Everything an
agent, a user simulator or a tool wrote is hostile text: all of it is HTML-escaped, file names
are derived from it only after reduction to a safe alphabet, and each page carries a
Content-Security-Policy that forbids scripts and remote loads, so even a missed escape could not
run code or phone home. Plots are inline SVG generated here, so there is no plotting dependency.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import ScaleenvError
from ..harness.results import EpisodeRecord, EvalReport, Metrics, latest_records, summarize
from ..spec.catalog import DomainNotFound, load_domain, load_domain_tasks
from ..spec.graph import build_graph, graph_facts
from ..spec.model import DomainSpec
from ..spec.paths import ProjectPaths
from ..spec.problems import BlueprintError
from ..spec.task import TaskSpec
from ..tasks.stats import difficulty_label, task_stats

__all__ = ["MARKER", "ReportError", "ReportResult", "RunData", "build_report", "read_run", "render_index"]

MARKER = '<meta name="generator" content="scaleenv report">'
"""Every page carries it; a folder whose index.html has it may be overwritten by the next report."""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_PALETTE = ("#3366cc", "#dc3912", "#109618", "#ff9900", "#990099", "#0099c6", "#dd4477", "#66aa00")
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#1d1d1f}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f9;padding:.5rem;margin:.25rem 0;border-radius:4px;font-size:12.5px}
.msg{border-left:4px solid #ccc;padding:.25rem .75rem;margin:.75rem 0}.role{font-weight:600;font-size:.85rem;text-transform:uppercase;color:#555}
.msg .role{}.msg.user{border-color:#3366cc}.msg.assistant{border-color:#109618}.msg.tool{border-color:#999}.msg.system{border-color:#ff9900}
.pass{color:#0a7d2c;font-weight:600}.fail{color:#c5221f;font-weight:600}.error{border-color:#c5221f}
.muted{color:#666}nav{margin-bottom:1rem}svg{max-width:100%;height:auto}figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}
"""


class ReportError(ScaleenvError):
    """The report cannot be written: a folder is not an eval run, or the output folder is not ours."""

    default_status = 400


@dataclass(frozen=True)
class RunData:
    """One eval run folder: its latest record per episode, the metrics over them, and its label."""

    label: str
    path: Path
    report: EvalReport
    k: int
    """pass^k is shown for k = 1 .. this (the run's --trials)"""


@dataclass(frozen=True)
class ReportResult:
    """What was written: the index page and the counts, for the CLI to print."""

    index: Path
    runs: int
    episodes: int
    domains: int


# ---------------------------------------------------------------- reading runs


def read_run(path: Path) -> RunData:
    """A run folder written by ``scaleenv eval --out``: ``results.jsonl`` (required), ``summary.json`` (its options)."""
    results = path / "results.jsonl"
    if not results.is_file():
        raise ReportError(f"{path}: no results.jsonl (pass a folder written by `scaleenv eval --out`)")
    try:
        latest = latest_records(results)  # a resumed episode: the last line counts
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    if not latest:
        raise ReportError(f"{results}: no episodes")
    summary: dict[str, Any] = {}
    if (path / "summary.json").is_file():
        try:
            summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        except ValueError:
            raise ReportError(f"{path / 'summary.json'}: not JSON") from None
    records = sorted(latest.values(), key=lambda r: (r.domain, r.task_id, r.trial))
    options = summary.get("options") if isinstance(summary.get("options"), dict) else {}
    trials = options.get("trials") if isinstance(options, dict) else None
    k = trials if isinstance(trials, int) and trials >= 1 else max(r.trial for r in records)
    agents = sorted({r.agent for r in records})
    model = summary.get("model") if isinstance(summary.get("model"), str) else None
    report = summarize(records, k, agent=", ".join(agents), model=model, options=options if isinstance(options, dict) else {})
    folder = path.name or path.resolve().name
    label = report.agent if folder == report.agent else f"{report.agent} ({folder})"
    return RunData(label=label, path=path, report=report, k=k)


# ---------------------------------------------------------------- small helpers


def _e(value: object) -> str:
    """Text for HTML (element content and quoted attributes alike)."""
    return escape(str(value), quote=True)


def _num(value: float | None) -> str:
    return "–" if value is None else str(round(value, 4))


def _slug(text: str) -> str:
    """A file name part from untrusted text: a safe alphabet, bounded, and unique by a hash of the original."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:60].strip("_") or "x"
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}" if safe != text else safe


def _page(title: str, body: str, *, up: str = "") -> str:
    nav = f'<nav><a href="{up}index.html">All runs</a></nav>' if up else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">{MARKER}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>{nav}<h1>{_e(title)}</h1>\n{body}\n</body></html>\n"
    )


def _episode_href(run_index: int, record: EpisodeRecord) -> str:
    return f"episodes/run{run_index}/{_slug(record.domain)}/{_slug(record.task_id)}__t{record.trial}.html"


def _domain_href(domain: str) -> str:
    return f"domains/{_slug(domain)}.html"


def _metric_cells(metrics: Metrics, k: int, *, run: int, domain: str) -> str:
    """The figures of one row; each cell names its metric, run and domain so a test (or a person) can read it back."""
    values: list[tuple[str, float | int | None]] = [
        ("tasks", metrics.tasks),
        ("episodes", metrics.episodes),
        ("infra_faults", metrics.infra_faults),
        ("mean_reward", metrics.mean_reward),
        ("pass@1", metrics.pass_at_1),
    ]
    values += [(f"pass^{j}", metrics.pass_hat.get(j)) for j in range(1, k + 1)]
    cells = []
    for name, value in values:
        shown = _num(value) if isinstance(value, float) or value is None else str(value)
        cells.append(f'<td class="num" data-run="{run}" data-domain="{_e(domain)}" data-metric="{_e(name)}">{_e(shown)}</td>')
    return "".join(cells)


# ---------------------------------------------------------------- plots (inline SVG)


def _bar_chart(title: str, groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, y_max: float = 1.0) -> str:
    """Grouped vertical bars: one group per label in ``groups``, one bar per series; None draws no bar."""
    n_series = max(1, len(series))
    bar, gap = 18, 18
    group_w = n_series * bar + gap
    left, top, height = 44, 28, 180
    legend_h = 18 * len(series)
    width = max(320, left + len(groups) * group_w + 20, int(left + len(title) * 8.5))  # the bold title must fit
    label_h = 70
    total_h = top + height + label_h + legend_h + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total_h}" width="{width}" height="{total_h}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
    ]
    for tick in range(6):
        level = y_max * tick / 5
        y = top + height - height * tick / 5
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{level:g}</text>')
    for g, group in enumerate(groups):
        x0 = left + g * group_w + gap / 2
        for s, (name, values) in enumerate(series):
            value = values[g] if g < len(values) else None
            if value is None:
                continue
            h = height * min(max(value / y_max, 0.0), 1.0)
            x = x0 + s * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top + height - h:.1f}" width="{bar - 2}" height="{max(h, 0.5):.1f}" fill="{_PALETTE[s % len(_PALETTE)]}">'
                f"<title>{_e(name)} · {_e(group)}: {_e(_num(value))}</title></rect>"
                f'<text x="{x + (bar - 2) / 2:.1f}" y="{top + height - h - 3:.1f}" font-size="9" text-anchor="middle">{_e(_short(value))}</text>'
            )
        cx = x0 + n_series * bar / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{top + height + 12}" font-size="11" text-anchor="end" '
            f'transform="rotate(-35 {cx:.1f} {top + height + 12})">{_e(group[:28])}</text>'
        )
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + height}" stroke="#444"/>')
    parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{top + height}" y2="{top + height}" stroke="#444"/>')
    for s, (name, _) in enumerate(series):
        y = top + height + label_h + 18 * s
        parts.append(f'<rect x="{left}" y="{y}" width="12" height="12" fill="{_PALETTE[s % len(_PALETTE)]}"/>')
        parts.append(f'<text x="{left + 18}" y="{y + 11}" font-size="12">{_e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(value: float) -> str:
    """A bar's label: at most two decimals, whole numbers without any."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".lstrip("0")


_BINS = ("0", "(0, .25)", "[.25, .5)", "[.5, .75)", "[.75, 1)", "1")


def _reward_bin(reward: float) -> int:
    """Rewards cluster at 0 and 1 (binary mode is all there), so those are bins of their own."""
    if reward <= 0:
        return 0
    if reward >= 1:
        return 5
    return 1 + min(3, int(reward / 0.25))


def _reward_histogram(runs: Sequence[RunData]) -> str:
    series = []
    for run in runs:
        valid = [r for r in run.report.records if r.infra_error is None]
        counts = Counter(_reward_bin(r.reward) for r in valid)
        total = len(valid) or 1
        series.append((run.label, [counts[b] / total for b in range(len(_BINS))]))
    return _bar_chart("Reward distribution (share of each run's scored episodes)", _BINS, series)


# ---------------------------------------------------------------- the tool graph (layered SVG)


def _layers(graph: nx.DiGraph, entries: Sequence[str]) -> list[list[str]]:
    """Left-to-right layers by how many calls it takes to reach a tool from the entry tools, following
    data edges (results feeding arguments): the way an agent walks the graph. Tools no result leads to
    come last. Each layer is ordered by the mean position of its predecessors, which untangles most
    crossings. (A longest-path layering would stretch a dense graph into one long row.)"""
    data = nx.DiGraph((a, b) for a, b, d in graph.edges(data=True) if d["data"])
    data.add_nodes_from(graph.nodes)
    distance: dict[str, int] = {}
    frontier = [n for n in entries if n in data]
    for node in frontier:
        distance[node] = 0
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(data.successors(node)):
                if child not in distance:
                    distance[child] = distance[node] + 1
                    following.append(child)
        frontier = following
    last = max(distance.values(), default=-1) + 1
    rank = {n: distance.get(n, last) for n in graph.nodes}
    layers: list[list[str]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for node in graph.nodes:
        layers[rank[node]].append(node)
    layers = [layer for layer in layers if layer]
    position: dict[str, float] = {}
    for i, layer in enumerate(layers):
        if i:
            keys = {n: _barycentre(graph, position, n, float(len(layer))) for n in layer}
            layer.sort(key=keys.__getitem__)
        for j, node in enumerate(layer):
            position[node] = j
    return layers


def _barycentre(graph: nx.DiGraph, position: dict[str, float], node: str, unplaced: float) -> tuple[float, str]:
    """Where a tool goes in its layer: the mean place of its predecessors already drawn (else ``unplaced``)."""
    placed = [position[p] for p in graph.predecessors(node) if p in position]
    return (sum(placed) / len(placed) if placed else unplaced, node)


def graph_svg(spec: DomainSpec) -> str:
    """The tool dependency graph as SVG: write tools filled, entry tools with a thick border, enabling-only
    edges dashed; each edge's reasons are its tooltip."""
    graph = build_graph(spec)
    entries = [n for n in graph.nodes if graph.nodes[n].get("entry")]
    layers = _layers(graph, entries)
    char_w, node_h, row_gap, col_gap = 7.0, 26, 14, 70
    widths = [max((len(n) * char_w + 20 for n in layer), default=60) for layer in layers]
    xs: list[float] = []
    x = 50.0  # room on the left for the loops of edges within the first layer
    for w in widths:
        xs.append(x)
        x += w + col_gap
    height = max(len(layer) for layer in layers) * (node_h + row_gap) + 40 if layers else 80
    width = x - col_gap + 10
    box: dict[str, tuple[float, float, float]] = {}  # node -> x, y, width
    for i, layer in enumerate(layers):
        offset = (height - 30 - len(layer) * (node_h + row_gap)) / 2
        for j, node in enumerate(layer):
            box[node] = (xs[i], 10 + offset + j * (node_h + row_gap), len(node) * char_w + 20)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" aria-label="tool dependency graph of {_e(spec.name)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>',
    ]
    for a, b, data in graph.edges(data=True):
        ax, ay, aw = box[a]
        bx, by, bw = box[b]
        y1, y2 = ay + node_h / 2, by + node_h / 2
        if bx > ax:  # forwards: right side to left side
            x1, x2 = ax + aw, bx
            bend = max(30.0, (x2 - x1) / 2)
            c1, c2 = x1 + bend, x2 - bend
        elif bx == ax:  # within a layer: a loop out to the left
            x1, x2 = ax, bx
            c1 = c2 = ax - 30 - abs(y2 - y1) / 4
        else:  # backwards: left side to right side
            x1, x2 = ax, bx + bw
            bend = max(30.0, (x1 - x2) / 2)
            c1, c2 = x1 - bend, x2 + bend
        dash = "" if data["data"] else ' stroke-dasharray="5,4"'
        reasons = "; ".join([*data["data"], *data["enables"]])
        parts.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{c1:.1f},{y1:.1f} {c2:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="#888" stroke-opacity=".55"{dash} '
            f'marker-end="url(#arrow)"><title>{_e(a)} → {_e(b)}: {_e(reasons)}</title></path>'
        )
    for node, (nx_, ny, nw) in box.items():
        attrs = graph.nodes[node]
        fill = "#fde3c8" if attrs.get("write") else "#e6eefc"
        stroke = "#333" if attrs.get("entry") else "#8a8a8a"
        sw = 2.5 if attrs.get("entry") else 1
        kind = ("write" if attrs.get("write") else "read") + (", entry" if attrs.get("entry") else "")
        parts.append(
            f'<g><title>{_e(node)} ({kind}; {attrs.get("rules", 0)} rule(s))</title>'
            f'<rect x="{nx_:.1f}" y="{ny:.1f}" width="{nw:.1f}" height="{node_h}" rx="{4 if attrs.get("write") else 13}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
            f'<text x="{nx_ + nw / 2:.1f}" y="{ny + 17:.1f}" font-size="12" font-family="monospace" text-anchor="middle">{_e(node)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- pages


def render_index(runs: Sequence[RunData], domain_pages: set[str]) -> str:
    """The overview: a metrics table per run and domain, the plots, the per-task comparison, the episodes."""
    k_max = max(run.k for run in runs)
    heads = ["run", "domain", "tasks", "episodes", "infra faults", "mean reward", "pass@1", *(f"pass^{j}" for j in range(1, k_max + 1))]
    rows = []
    for i, run in enumerate(runs):
        m = run.report
        named = [*m.domains.items(), ("overall", m.overall)]
        for domain, metrics in named:
            link = f'<a href="{_e(_domain_href(domain))}">{_e(domain)}</a>' if domain in domain_pages else _e(domain)
            pad = "".join("<td></td>" for _ in range(k_max - run.k))
            row_class = ' style="font-weight:600"' if domain == "overall" else ""
            rows.append(f"<tr{row_class}><td>{_e(run.label)}</td><td>{link}</td>{_metric_cells(metrics, run.k, run=i, domain=domain)}{pad}</tr>")
    runs_list = "".join(
        f"<li><b>{_e(run.label)}</b>: agent {_e(run.report.agent)}"
        + (f", model {_e(run.report.model)}" if run.report.model else "")
        + f", {run.k} trial(s) per task, folder <code>{_e(run.path)}</code></li>"
        for run in runs
    )
    domains = sorted({d for run in runs for d in run.report.domains})
    comparison = _bar_chart(
        "pass@1 per domain, run against run",
        [*domains, "overall"],
        [(run.label, [*(run.report.domains[d].pass_at_1 if d in run.report.domains else None for d in domains), run.report.overall.pass_at_1]) for run in runs],
    )
    mean_reward = _bar_chart(
        "Mean reward per domain, run against run",
        [*domains, "overall"],
        [(run.label, [*(run.report.domains[d].mean_reward if d in run.report.domains else None for d in domains), run.report.overall.mean_reward]) for run in runs],
    )
    body = [
        f"<p>{len(runs)} run(s), {sum(r.report.overall.episodes for r in runs)} episode(s). pass@1 is the mean success rate per task; "
        "pass^k the chance that k trials of a task all succeed (tau-bench), over the tasks with at least k scored trials; "
        "infrastructure faults are counted, not scored.</p>",
        f"<ul>{runs_list}</ul>",
        "<h2>Figures</h2>",
        f'<table id="metrics"><thead><tr>{"".join(f"<th>{_e(h)}</th>" for h in heads)}</tr></thead><tbody>{"".join(rows)}</tbody></table>',
        "<h2>Plots</h2>",
        f"<figure>{comparison}</figure>",
        f"<figure>{mean_reward}</figure>",
        f"<figure>{_reward_histogram(runs)}</figure>",
        _task_comparison(runs),
        _episode_list(runs),
    ]
    return _page("scaleenv results", "\n".join(body))


def _task_comparison(runs: Sequence[RunData]) -> str:
    """Per task: each run's successes out of its scored trials, so one sees where two agents differ."""
    table: dict[tuple[str, str], dict[int, list[EpisodeRecord]]] = defaultdict(lambda: defaultdict(list))
    for i, run in enumerate(runs):
        for record in run.report.records:
            table[(record.domain, record.task_id)][i].append(record)
    head = "".join(f"<th>{_e(run.label)}</th>" for run in runs)
    rows = []
    for (domain, task), by_run in sorted(table.items()):
        cells = []
        for i in range(len(runs)):
            records = by_run.get(i, [])
            scored = [r for r in records if r.infra_error is None]
            if not records:
                cells.append('<td class="muted">not run</td>')
                continue
            wins = sum(r.success for r in scored)
            mean = sum(r.reward for r in scored) / len(scored) if scored else None
            links = " ".join(
                f'<a href="{_e(_episode_href(i, r))}" class="{"pass" if r.success else "fail"}">t{r.trial}</a>' for r in records
            )
            cells.append(f'<td>{wins}/{len(scored)} · reward {_e(_num(mean))} · {links}</td>')
        rows.append(f"<tr><td>{_e(domain)}</td><td>{_e(task)}</td>{''.join(cells)}</tr>")
    return (
        "<h2>Task by task</h2><p>Successes out of scored trials, the mean reward, and each trial's page.</p>"
        f'<table id="tasks"><thead><tr><th>domain</th><th>task</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _episode_list(runs: Sequence[RunData]) -> str:
    items = []
    for i, run in enumerate(runs):
        lines = []
        for r in run.report.records:
            status = (
                f'<span class="fail">infra fault ({_e(r.infra_error.kind)})</span>'
                if r.infra_error
                else '<span class="pass">success</span>'
                if r.success
                else '<span class="fail">failed</span>'
            )
            lines.append(
                f'<li><a href="{_e(_episode_href(i, r))}">{_e(r.domain)} / {_e(r.task_id)} trial {r.trial}</a>: '
                f"{status}, reward {_e(_num(r.reward))}, {r.steps} step(s), {_e(r.termination)}</li>"
            )
        items.append(f"<h3>{_e(run.label)}</h3><ul>{''.join(lines)}</ul>")
    return "<h2>Episodes</h2>" + "".join(items)


def _pretty(text: str) -> tuple[str, bool]:
    """A tool result's text shown readably (JSON indented), and whether it is an error result
    (the server writes those as ``code: message`` then the error as JSON)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), False
    except ValueError:
        pass
    head, _, rest = text.partition("\n")
    try:
        data = json.loads(rest)
    except ValueError:
        return text, False
    if isinstance(data, dict) and "error" in data:
        return f"{head}\n{json.dumps(data, indent=2, ensure_ascii=False)}", True
    return text, False


def _arguments(raw: Any) -> str:
    if isinstance(raw, str):
        try:
            return json.dumps(json.loads(raw or "{}"), indent=2, ensure_ascii=False)
        except ValueError:
            return raw  # malformed, as the model wrote it
    return json.dumps(raw, indent=2, ensure_ascii=False)


def _conversation(messages: Sequence[Any]) -> str:
    names: dict[str, str] = {}
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", "?"))
        content = message.get("content")
        text = content if isinstance(content, str) else "" if content is None else json.dumps(content, ensure_ascii=False)
        css = role if role in ("system", "user", "assistant", "tool") else ""
        if role == "system":
            out.append(f'<div class="msg system"><details><summary class="role">system prompt</summary><pre>{_e(text)}</pre></details></div>')
            continue
        if role == "tool":
            call_id = str(message.get("tool_call_id", ""))
            shown, failed = _pretty(text)
            name = names.get(call_id) or str(message.get("name") or "")
            label = f'<span class="role">result</span> of <code><b>{_e(name)}</b></code>' if name else '<span class="role">tool result</span>'
            out.append(
                f'<div class="msg tool{" error" if failed else ""}"><div>{label}'
                f'{" <span class=fail>(error)</span>" if failed else ""} <span class="muted">{_e(call_id)}</span></div><pre>{_e(shown)}</pre></div>'
            )
            continue
        blocks = [f'<div class="role">{_e(role)}</div>']
        if text:
            blocks.append(f"<pre>{_e(text)}</pre>")
        for call in message.get("tool_calls") or []:
            if not isinstance(call, dict):
                continue
            raw = call.get("function")
            function: dict[str, Any] = raw if isinstance(raw, dict) else {}
            name = str(function.get("name", "?"))
            names[str(call.get("id", ""))] = name
            blocks.append(
                f'<div>calls <code><b>{_e(name)}</b></code> <span class="muted">{_e(call.get("id", ""))}</span></div>'
                f"<pre>{_e(_arguments(function.get('arguments', '{}')))}</pre>"
            )
        out.append(f'<div class="msg {css}">{"".join(blocks)}</div>')
    return "\n".join(out) or '<p class="muted">No messages were recorded.</p>'


def _diff_section(record: EpisodeRecord) -> str:
    """The state diff when the record carries one (a ``diff`` field: per-table counts, or rows);
    otherwise a plain statement that it was not recorded."""
    extra = record.model_extra or {}
    recorded = extra.get("diff", extra.get("state_diff"))
    if recorded is None:
        return (
            '<p class="muted" id="diff">The state diff is not recorded for this episode: results.jsonl keeps the '
            "verdict's checks (above), not the rows that changed.</p>"
        )
    tables = recorded.get("tables", recorded) if isinstance(recorded, dict) else None
    if not isinstance(tables, dict):
        return f'<pre id="diff">{_e(json.dumps(recorded, indent=2, ensure_ascii=False))}</pre>'
    if not tables:
        return '<p id="diff">Nothing in the state changed.</p>'
    rows = []
    for table, change in tables.items():
        if isinstance(change, dict) and all(isinstance(v, int) for v in change.values()):  # the verdict's summary: counts
            detail = ", ".join(f"{v} {k}" for k, v in change.items())
        else:
            detail = f"<pre>{_e(json.dumps(change, indent=2, ensure_ascii=False))}</pre>"
            rows.append(f"<tr><td>{_e(table)}</td><td>{detail}</td></tr>")
            continue
        rows.append(f"<tr><td>{_e(table)}</td><td>{_e(detail)}</td></tr>")
    return f'<table id="diff"><thead><tr><th>table</th><th>rows</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_episode(run: RunData, record: EpisodeRecord, trajectory: dict[str, Any] | None, why_missing: str = "") -> str:
    """One episode: the verdict, every check, the state diff, then the conversation with its tool calls."""
    status = "infra fault" if record.infra_error else "success" if record.success else "failed"
    facts = [
        ("run", run.label),
        ("agent", record.agent),
        ("domain", record.domain),
        ("task", record.task_id),
        ("trial", record.trial),
        ("outcome", status),
        ("reward", _num(record.reward)),
        ("steps", record.steps),
        ("termination", record.termination),
        ("wall time", f"{record.wall_time:g} s"),
        ("tokens", f"{record.tokens.get('prompt', 0)} prompt, {record.tokens.get('completion', 0)} completion"),
    ]
    if record.user_sim:
        facts.append(("user simulator", record.user_sim))
    if record.cost is not None:
        facts.append(("cost", f"${record.cost:.4f}"))
    if record.infra_error:
        facts.append(("infra fault", f"{record.infra_error.kind}: {record.infra_error.message}"))
    table = "".join(f'<tr><th>{_e(k)}</th><td data-fact="{_e(k)}">{_e(v)}</td></tr>' for k, v in facts)
    checks = "".join(
        f'<tr><td class="{"pass" if c.passed else "fail"}">{"✓ passed" if c.passed else "✗ failed"}</td>'
        f"<td>{_e(c.description)}</td><td>{_e(c.detail)}</td></tr>"
        for c in record.checks
    )
    checks_html = (
        f'<table id="checks"><thead><tr><th>result</th><th>check</th><th>detail</th></tr></thead><tbody>{checks}</tbody></table>'
        if record.checks
        else '<p class="muted">No checks were recorded (the episode was not graded).</p>'
    )
    extra = {k: v for k, v in (record.model_extra or {}).items() if k not in ("diff", "state_diff")}
    extra_html = f"<h2>Other recorded fields</h2><pre>{_e(json.dumps(extra, indent=2, ensure_ascii=False))}</pre>" if extra else ""
    if trajectory is None:
        conversation = f'<p class="muted">{_e(why_missing or "No trajectory was recorded.")}</p>'
    else:
        conversation = _conversation(trajectory.get("messages") or [])
    domain_link = f'<p><a href="../../../{_e(_domain_href(record.domain))}">Domain page</a></p>'
    body = (
        f'<table id="verdict">{table}</table>{domain_link}<h2>Checks</h2>{checks_html}<h2>State diff</h2>{_diff_section(record)}'
        f"{extra_html}<h2>Conversation</h2>{conversation}"
    )
    return _page(f"{record.domain} / {record.task_id} · trial {record.trial} · {run.label}", body, up="../../../")


def render_domain(name: str, spec: DomainSpec | None, tasks: Sequence[TaskSpec], runs: Sequence[RunData], why_missing: str = "") -> str:
    """A domain: its tool graph, the mix of its stored tasks, and every episode of it in the runs."""
    parts = []
    if spec is None:
        parts.append(f'<p class="muted">{_e(why_missing)}</p>')
    else:
        facts = graph_facts(spec)
        parts.append(f"<p>{_e(spec.title or spec.name)}. {facts['nodes']} tools, {facts['edges']} edges "
                     f"({facts['data_edges']} carry data, {facts['enabling_edges']} enable a rule); entry tools: "
                     f"{_e(', '.join(facts['entry_tools']) or 'none')}; longest chain {facts['longest_chain']}.</p>")  # fmt: skip
        parts.append(
            "<h2>Tool dependency graph</h2><p class=muted>An edge A → B: A's result carries a value B takes (solid), or A's "
            "effect changes a field one of B's rules reads (dashed). Write tools are orange boxes, read tools blue pills, "
            "entry tools (callable from facts a user knows) have a thick border. Hover an edge for its reasons.</p>"
            f'<figure id="graph">{graph_svg(spec)}</figure>'
        )
        stats = task_stats(spec, tasks)
        parts.append(f"<h2>Task mix</h2><p>{stats['tasks']} stored task(s), {stats['mean_steps']} reference steps on average.</p>")
        kinds = "".join(
            f'<tr><td>{_e(k)}</td><td class="num" data-kind="{_e(k)}">{v["count"]}</td><td class="num">{v["share"]:.0%}</td></tr>'
            for k, v in stats["kinds"].items()
        )
        parts.append(f'<table id="kinds"><thead><tr><th>kind</th><th>tasks</th><th>share</th></tr></thead><tbody>{kinds}</tbody></table>')
        difficulty = "".join(f'<tr><td>{_e(k)}</td><td class="num" data-difficulty="{_e(k)}">{v}</td></tr>' for k, v in stats["difficulty"].items())
        parts.append(f'<table id="difficulty"><thead><tr><th>difficulty</th><th>tasks</th></tr></thead><tbody>{difficulty}</tbody></table>')
        other = [
            ("with conditions", stats["with_conditions"]),
            ("with hidden facts", stats["with_hidden_facts"]),
            ("with aggregates", stats["with_aggregates"]),
            ("with distractors", stats["with_distractors"]),
            ("write tools covered", f"{stats['write_tools']['covered']} of {stats['write_tools']['total']}"),
        ]
        parts.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in other) + "</table>")
        parts.append(_bar_chart(
            "Stored tasks by kind and difficulty", ["action", "information", "refusal", "easy", "medium", "hard"],
            [("tasks", [float(stats["kinds"][k]["count"]) for k in ("action", "information", "refusal")]
              + [float(stats["difficulty"][k]) for k in ("easy", "medium", "hard")])],
            y_max=float(-(-max([1, *(v["count"] for v in stats["kinds"].values()), *stats["difficulty"].values()]) // 5) * 5),
        ))  # fmt: skip
    by_task = {t.id: t for t in tasks}
    rows = []
    for i, run in enumerate(runs):
        for r in run.report.records:
            if r.domain != name:
                continue
            task = by_task.get(r.task_id)
            described = f"{task.kind}, {difficulty_label(task)}" if task else "not among the stored tasks"
            rows.append(
                f'<tr><td>{_e(run.label)}</td><td><a href="../{_e(_episode_href(i, r))}">{_e(r.task_id)} t{r.trial}</a></td>'
                f'<td>{_e(described)}</td><td class="{"pass" if r.success else "fail"}">{"success" if r.success else "infra fault" if r.infra_error else "failed"}</td>'
                f'<td class="num">{_e(_num(r.reward))}</td></tr>'
            )
    parts.append(
        "<h2>Episodes</h2><table><thead><tr><th>run</th><th>episode</th><th>task</th><th>outcome</th><th>reward</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _page(f"Domain {name}", "\n".join(parts), up="../")


# ---------------------------------------------------------------- the site


def _prepare(out: Path) -> None:
    """Use ``out`` only if it is new, empty, or an earlier report (whose pages are replaced)."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file; --html needs a folder")
    if out.is_dir() and any(out.iterdir()):
        index = out / "index.html"
        if not (index.is_file() and MARKER in index.read_text(encoding="utf-8", errors="replace")):
            raise ReportError(f"{out} is not empty and holds no earlier report; pass a new or empty folder")
        for sub in ("episodes", "domains"):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)


def _trajectory(run: RunData, record: EpisodeRecord) -> tuple[dict[str, Any] | None, str]:
    if not record.trajectory:
        return None, "No trajectory was recorded for this episode."
    path = (run.path / record.trajectory).resolve()
    if not path.is_relative_to(run.path.resolve()):
        return None, f"The record points outside its run folder ({record.trajectory}); not read."
    if not path.is_file():
        return None, f"The trajectory file {record.trajectory} is missing from the run folder."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None, f"The trajectory file {record.trajectory} is not JSON."
    return (data, "") if isinstance(data, dict) else (None, f"The trajectory file {record.trajectory} holds no conversation.")


def build_report(runs: Sequence[Path], out: Path, *, paths: ProjectPaths | None = None) -> ReportResult:
    """Write the site for ``runs`` into ``out``. Domain pages draw the domains found in ``paths`` (the
    project); a domain of the runs that is not there still gets a page, saying so."""
    if not runs:
        raise ReportError("name at least one run folder")
    data = [read_run(Path(r)) for r in runs]
    labels = Counter(run.label for run in data)
    if any(n > 1 for n in labels.values()):  # two folders of one name: tell them apart by their place in the list
        data = [RunData(f"{run.label} #{i + 1}", run.path, run.report, run.k) for i, run in enumerate(data)]
    _prepare(out)
    names = sorted({r.domain for run in data for r in run.report.records})
    episodes = 0
    for i, run in enumerate(data):
        for record in run.report.records:
            trajectory, why = _trajectory(run, record)
            target = out / _episode_href(i, record)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_episode(run, record, trajectory, why), encoding="utf-8")
            episodes += 1
    (out / "domains").mkdir(exist_ok=True)
    for name in names:
        spec: DomainSpec | None = None
        tasks: list[TaskSpec] = []
        why = ""
        if paths is None:
            why = "No project was given, so the domain's graph and tasks are not shown."
        else:
            try:
                spec, tasks = load_domain(paths, name), load_domain_tasks(paths, name)
            except DomainNotFound:
                why = f"The domain {name!r} is not in the project at {paths.root}, so its graph and tasks are not shown."
            except BlueprintError as exc:
                why = f"The domain {name!r} could not be loaded ({exc}), so its graph and tasks are not shown."
        (out / _domain_href(name)).write_text(render_domain(name, spec, tasks, data, why), encoding="utf-8")
    index = out / "index.html"
    index.write_text(render_index(data, set(names)), encoding="utf-8")
    return ReportResult(index=index, runs=len(data), episodes=episodes, domains=len(names))
