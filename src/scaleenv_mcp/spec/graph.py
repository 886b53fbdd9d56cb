"""The tool dependency graph of a domain.

An edge A -> B says that calling A can make a call of B possible: either A's result
carries a value B needs as an argument (an order id, or a customer id found on an
order), or A's effects change a field that one of B's rules reads (paying an order
enables shipping it). Every edge keeps its reasons, so a person can audit the graph
and the task generator can explain a chain. Entry tools are those a user can start
from with facts they know (an email, a flight number), without any internal id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from .model import CreateEffect, DomainSpec

__all__ = ["build_graph", "entry_tools", "graph_dot", "graph_facts", "graph_json"]


def _feeds(spec: DomainSpec, source_name: str, target_name: str) -> list[str]:
    """Reasons why values in ``source``'s result can be arguments of ``target``."""
    source, target = spec.tools[source_name], spec.tools[target_name]
    entity = spec.view(source_name).returns
    if not entity:
        return []  # a computed answer carries no ids
    effects = [*source.effects, *(e for loop in source.loops for e in loop.do)]  # per-item creates too
    created = [e.create for e in effects if isinstance(e, CreateEffect)]
    joined = {join.entity: name for name, join in source.include.items()}
    reasons = []
    for pname, param in target.params.items():
        ref = param.ref_entity  # a ref, or the items of a list of refs
        if ref is None:
            continue
        if ref == entity or ref in created:
            reasons.append(f"{pname} <- {ref}.id")
            continue
        if ref in joined:  # a row joined into the result (a reservation's passengers)
            reasons.append(f"{pname} <- {entity}.{joined[ref]}[].id")
            continue
        for fname, field in spec.entities[entity].fields.items():
            if field.type == "ref" and field.ref == ref:
                reasons.append(f"{pname} <- {entity}.{fname}")
                break
    return reasons


def _enables(spec: DomainSpec, source: str, target: str) -> list[str]:
    writes = spec.view(source).writes
    reads = spec.view(target).reads
    reasons = []
    for entity, fields in writes.items():
        read = reads.get(entity, frozenset())
        touched = sorted(fields & read) if "*" not in fields else sorted(read)
        if touched or ("*" in fields and "*" in read):
            reasons.append(f"effect on {entity}.{'/'.join(touched) or '*'} can change a precondition")
    return reasons


_BUILT: dict[int, tuple[DomainSpec, nx.DiGraph]] = {}
"""the last few graphs, by spec identity: the gate asks once per seed, the task generator once more"""


def build_graph(spec: DomainSpec) -> nx.DiGraph:
    """Edges with their reasons: ``data`` (a result feeds an argument) and ``enables`` (a write
    changes what a rule reads). A copy: the caller may change it."""
    built = _BUILT.get(id(spec))
    if built is None or built[0] is not spec:
        if len(_BUILT) >= 8:
            _BUILT.pop(next(iter(_BUILT)))
        built = _BUILT[id(spec)] = (spec, _build_graph(spec))
    return built[1].copy()


def _build_graph(spec: DomainSpec) -> nx.DiGraph:
    graph = nx.DiGraph(domain=spec.name)
    entries = set(entry_tools(spec))
    for name, tool in spec.tools.items():
        graph.add_node(
            name,
            write=tool.is_write,
            entity=spec.view(name).returns,
            entry=name in entries,
            rules=len(tool.requires),
        )
    for a, tool_a in spec.tools.items():
        for b in spec.tools:
            if a == b:
                continue
            data = _feeds(spec, a, b)
            enabling = _enables(spec, a, b) if tool_a.is_write else []
            if data or enabling:
                graph.add_edge(a, b, data=data, enables=enabling)
    return graph


def entry_tools(spec: DomainSpec) -> list[str]:
    """Tools whose required arguments are all facts a user knows (no internal ids)."""
    return [name for name, tool in spec.tools.items() if all(not p.takes_ids for p in tool.params.values() if p.required)]


def _reachable(graph: nx.DiGraph, sources: Iterable[str]) -> set[str]:
    data_only = nx.DiGraph((a, b) for a, b, d in graph.edges(data=True) if d["data"])
    data_only.add_nodes_from(graph.nodes)
    seen: set[str] = set()
    for source in sources:
        seen.add(source)
        seen |= nx.descendants(data_only, source)
    return seen


def graph_facts(spec: DomainSpec, graph: nx.DiGraph | None = None) -> dict[str, Any]:
    """Counts, entry tools, and the tools no user could ever get to (by following results)."""
    graph = graph if graph is not None else build_graph(spec)
    entries = entry_tools(spec)
    reachable = _reachable(graph, entries)
    unreachable = [n for n in spec.tools if n not in reachable]
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "data_edges": sum(1 for *_, d in graph.edges(data=True) if d["data"]),
        "enabling_edges": sum(1 for *_, d in graph.edges(data=True) if d["enables"]),
        "entry_tools": entries,
        "unreachable_tools": unreachable,
        "unreachable_write_tools": [n for n in unreachable if spec.tools[n].is_write],
        "longest_chain": len(nx.dag_longest_path(_acyclic(graph))) if graph.number_of_edges() else 1,
    }


def _acyclic(graph: nx.DiGraph) -> nx.DiGraph:
    """A DAG from the graph (dropping back edges) for a longest-chain figure."""
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.nodes)
    for a, b in nx.dfs_edges(graph):
        dag.add_edge(a, b)
    return dag


def graph_json(spec: DomainSpec, graph: nx.DiGraph | None = None) -> dict[str, Any]:
    graph = graph if graph is not None else build_graph(spec)
    return {
        "nodes": [{"tool": n, **graph.nodes[n]} for n in graph.nodes],
        "edges": [{"from": a, "to": b, "data": d["data"], "enables": d["enables"]} for a, b, d in graph.edges(data=True)],
        "facts": graph_facts(spec, graph),
    }


def graph_dot(spec: DomainSpec, graph: nx.DiGraph | None = None) -> str:
    """Graphviz DOT text: writes are boxes, entry tools are bold, enabling edges are dashed."""
    graph = graph if graph is not None else build_graph(spec)
    lines = [f'digraph "{spec.name}" {{', "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for name, attrs in graph.nodes(data=True):
        shape = "box" if attrs["write"] else "ellipse"
        style = ", style=bold" if attrs["entry"] else ""
        lines.append(f'  "{name}" [shape={shape}{style}];')
    for a, b, d in graph.edges(data=True):
        label = "; ".join(d["data"] + d["enables"]).replace('"', "'")
        style = "" if d["data"] else ", style=dashed"
        lines.append(f'  "{a}" -> "{b}" [tooltip="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
