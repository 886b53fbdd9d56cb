"""What several goal strategies share: the calls a write could be, how the user names the rows a
call refers to, how the user words a request, and how answers are kept evenly spread.

A strategy binds a write tool's arguments to real rows (the user's own, or a sample of the rest),
keeps a binding only if the user could name every row it refers to, and words the request the
way the blueprint phrases it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ....engine.binding import candidate_calls, pair_search
from ....engine.runtime import ToolResult, execute
from ....engine.state import State
from ....spec.types import ref_var
from ...wording import describing_fields, entity_noun, request, row_part, series, value_phrase
from ..draft import Draft

__all__ = ["Read", "bind_rows", "candidates", "fair_question", "open_details", "persona_params", "request_text", "succeeds", "trial"]

_SAMPLE = 60
"""rows of a table a candidate call is drawn from (the user's own rows come on top)"""

def persona_params(draft: Draft, tool_name: str) -> list[str]:
    """The parameters that are the user: a reference to the user's entity named for it (``attendee_id``);
    ``to_attendee_id`` names someone else."""
    persona = draft.persona_entity
    return [p for p, s in draft.spec.tools[tool_name].params.items() if s.type == "ref" and s.ref == persona and p == f"{persona}_id"]


def candidates(draft: Draft, tool_name: str, persona_params: list[str], limit: int = 60) -> list[dict[str, Any]]:
    """Calls to try: rows the user owns for their own things, a sample of the rest (a catalogue, other
    people), so the cost follows the user's rows and the sample, not the size of the tables
    (``limit``: at most this many calls)."""
    spec = draft.spec
    entities = spec.view(tool_name).entities
    pools: dict[str, list[dict[str, Any]]] = {p: [draft.persona] for p in persona_params}
    for pname, param in spec.tools[tool_name].params.items():
        if param.ref_entity is None or pname in persona_params:
            continue
        entity = entities[ref_var(pname)] if param.type == "ref" else str(param.ref_entity)  # a list of refs: its items'
        sample = draft.state.sample(entity, draft.rng, _SAMPLE)
        if draft.ownable(entity) and entity != draft.persona_entity:
            owned = draft.owned_rows(entity)
            ids = {r["id"] for r in owned}
            others = [] if param.type == "list" and owned else sample[: _SAMPLE // 4]  # a list of the user's rows: theirs only
            pools[pname] = owned + [r for r in others if r["id"] not in ids]
        else:
            pools[pname] = sample
    calls = list(candidate_calls(draft.state, tool_name, draft.rng, limit, pools=pools, like_rows=True))
    for args in calls:
        for p in persona_params:
            args[p] = draft.persona["id"]
    return calls


Read = tuple[str, dict[str, Any]]
"""A read call of the reference: (tool, arguments)."""



def bind_rows(
    draft: Draft, tool_name: str, args: dict[str, Any], persona_params: list[str], reads: list[Read] | None = None
) -> tuple[list[tuple[str, str]], list[tuple[str, dict[str, Any]]]] | None:
    """How the user names each row the call refers to (and the rows), if every one is theirs and nameable.
    Two rows a pairs search finds together are named as the pair ("the one-stop trip from Oslo to
    Porto"); the search that finds them goes to ``reads``, for the reference solution."""
    phrases, rows = [], []
    for pname, param in draft.spec.tools[tool_name].params.items():
        if pname in persona_params or pname not in args:
            continue
        named = param.named_ids(args[pname])  # a ref, or every id of a list of refs
        if not named:
            continue
        pair = _pair_named(draft, named) if param.type == "list" and reads is not None else None
        if pair is not None and reads is not None:
            phrases.append((pname, pair[0]))
            reads.append(pair[1])
            continue
        texts = []
        for entity, row_id in named:
            row = draft.state.get(entity, row_id)
            if row is None:
                return None
            someone = entity == draft.persona_entity  # another person the call names (a ticket's new holder)
            if draft.ownable(entity) and not draft.owned(entity, row) and not someone and not draft.unowned(entity, row):
                return None  # another user's row: never asked for
            said = (_option_named(draft, entity, row) if param.type == "list" else None) or draft.describe(entity, row)
            if said is not None and said not in draft.conditions and param.type == "ref":
                said = _named_by_contents(draft, tool_name, entity, row) or said
            if said is None or said in texts:
                return None
            texts.append(said)
            rows.append((entity, row))
        phrases.append((pname, series(texts)))
    return phrases, rows


def _option_named(draft: Draft, entity: str, row: dict[str, Any]) -> str | None:
    """A catalogue option named the way a shopper names it: its product and its options ("the
    T-Shirt (color: red, size: L)"), for a row with no label of its own whose one reference is to a
    labelled parent; None when another row of that parent has the same options, or the row is not
    such an option (the blueprint's description is used then)."""
    spec_entity = draft.spec.entities[entity]
    if spec_entity.label is not None or draft.ownable(entity):
        return None  # a row with a name of its own, or a user's own row (a card): the blueprint's words
    parents = [(n, f) for n, f in spec_entity.fields.items() if f.type == "ref"]
    if len(parents) != 1 or row.get(parents[0][0]) is None:
        return None
    pname, pfield = parents[0]
    parent_entity = draft.spec.entities[str(pfield.ref)]
    parent = draft.state.get(str(pfield.ref), row[pname])
    if parent_entity.label is None or parent is None or parent.get(parent_entity.label) is None:
        return None
    options = [n for n, f in spec_entity.fields.items() if f.identifying and f.kind == "string" and row.get(n) is not None]
    if not options:
        return None
    same = {pname: row[pname], **{n: row[n] for n in options}}
    said = ", ".join(str(row[n]) for n in options)
    money = [n for n, f in spec_entity.fields.items() if f.type == "money" and row.get(n) is not None]
    if len(draft.state.find(entity, same, limit=2)) > 1:  # two options alike but for their price: say the price
        if len(money) != 1 or len(draft.state.find(entity, {**same, money[0]: row[money[0]]}, limit=2)) > 1:
            return None
        said += f") at {value_phrase(spec_entity.fields[money[0]], row[money[0]])}"
    else:
        said += ")"
    text = f"the {parent[parent_entity.label]} ({said}"
    draft.names[str(row["id"])] = (entity, text)
    draft.described[str(row["id"])] = [pname, *options]
    return text


def _named_by_contents(draft: Draft, tool_name: str, entity: str, row: dict[str, Any]) -> str | None:
    """The user's row named by what is in it ("my order of the Headphones and the Coffee Maker"), for a
    call that also lists rows its lines hold (the items of an order to exchange): how a shopper names
    an order. Only for a row with no label whose lines refer to a labelled row, and only when no other
    row of the user's holds the same things; None otherwise (the blueprint's description is used)."""
    spec = draft.spec
    listed = {str(p.ref_entity) for p in spec.tools[tool_name].params.values() if p.type == "list" and p.ref_entity}
    if spec.entities[entity].label is not None or not listed or not draft.owned(entity, row):
        return None
    for child_name, child in spec.entities.items():
        refs = {str(f.ref): n for n, f in child.fields.items() if f.type == "ref"}
        if entity not in refs or not listed & set(refs):
            continue
        products = {str(f.ref) for item in listed for f in spec.entities[item].fields.values() if f.type == "ref"}
        labelled = [  # the lines name what the listed rows are options of (an order's items: their products)
            (n, str(f.ref)) for n, f in child.fields.items()
            if f.type == "ref" and str(f.ref) in products and spec.entities[str(f.ref)].label and not draft.ownable(str(f.ref))
        ]  # fmt: skip
        if not labelled:
            continue
        lines = (child_name, refs[entity], *labelled[0])
        mine = _contents(draft, lines, row)
        if not mine or any(_contents(draft, lines, other) == mine for other in draft.owned_rows(entity) if other["id"] != row["id"]):
            return None
        text = f"my {entity_noun(entity, spec.entities[entity])} of {series([f'the {name}' for name in mine])}"
        draft.names[str(row["id"])] = (entity, text)
        draft.described[str(row["id"])] = []
        return text
    return None


def _contents(draft: Draft, lines: tuple[str, str, str, str], of: dict[str, Any]) -> list[str]:
    """The labels of what ``of``'s lines refer to, sorted; ``lines``: (the lines' entity, their field
    naming ``of``, their field naming the labelled row, that row's entity)."""
    child, link, by, target = lines
    label = str(draft.spec.entities[target].label)
    parents = (draft.state.get(target, line[by]) for line in draft.state.find(child, {link: of["id"]}))
    return sorted({str(p[label]) for p in parents if p is not None and p.get(label) is not None})


def open_details(draft: Draft, entity: str, row: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]) -> bool:
    """Open ``row``'s details when they show what the agent still needs for the other ``rows`` of the
    call: an order's details list its items (and their products), which is how an agent learns the ids
    of the items a user names in an exchange and then finds another option of the same product.
    Runs the read whose one parameter is ``row`` and whose joined rows refer to a catalogue row among
    ``rows`` not yet found (the user's own rows are found by their own listings), and keeps it only if
    it shows one of them; always True: a row it does not show is left to :meth:`.Draft.discover`."""
    unknown = {str(other["id"]) for kind, other in rows if other["id"] not in draft.known and not draft.ownable(kind)}
    if row["id"] not in draft.known or not unknown:
        return True
    spec = draft.spec
    for name, tool in spec.tools.items():
        if tool.is_write or not tool.include or len(tool.params) != 1 or len(tool.ref_params) != 1:
            continue
        ((var, pname),) = tool.ref_params.items()
        if spec.view(name).entities.get(var) != entity:
            continue
        joined = [j.entity for j in tool.include.values()]
        refers = any(
            f.type == "ref" and str(f.ref) == other_entity
            for j in joined
            for f in spec.entities[j].fields.values()
            for other_entity, other in rows
            if other["id"] in unknown
        )
        if refers and not any(c.tool == name and c.arguments == {pname: row["id"]} for c in draft.solution):
            mark = draft.checkpoint()
            shown = draft.run(name, {pname: row["id"]})
            if shown is not None and not unknown & draft.known:
                draft.rollback(mark)  # it shows none of them: not a step of the reference
    return True


def _pair_named(draft: Draft, named: list[tuple[str, str]]) -> tuple[str, Read] | None:
    """The blueprint's phrase for two rows a pairs search returns together, and that search's call;
    the first row's time is added when the search finds more than one such pair."""
    if len(named) != 2 or named[0][0] != named[1][0]:
        return None
    entity = named[0][0]
    first, second = draft.state.get(entity, named[0][1]), draft.state.get(entity, named[1][1])
    if first is None or second is None:
        return None
    if draft.ownable(entity) and not (draft.owned(entity, first) and draft.owned(entity, second)):
        return None  # personal rows: only the user's own pair is ever asked for
    searched = pair_search(draft.state, entity, first, second, phrased=True)
    if searched is None:
        return None
    name, args, found = searched
    tool = draft.spec.tools[name]
    text = str(tool.search.pairs.phrase)  # type: ignore[union-attr]
    for p, v in args.items():
        text = text.replace(f"{{{p}}}", value_phrase(tool.params[p], v))
    if "{" in text:
        return None  # a slot the pair does not fill
    if len(found) > 1:  # told apart by when each leaves
        fields = draft.spec.entities[entity].fields
        timed = next((f for f in describing_fields(draft.spec.entities[entity]) if fields[f].type in ("date", "datetime")), None)
        alike = [p for p in found if timed and (p["first"][timed], p["second"][timed]) == (first[timed], second[timed])]
        if timed is None or len(alike) != 1:
            return None
        part = row_part(timed, fields[timed], value_phrase(fields[timed], first[timed]))
        text += f" {part}, then {value_phrase(fields[timed], second[timed])}"
    return text, (name, args)


def request_text(draft: Draft, tool_name: str, args: dict[str, Any], rows: list[tuple[str, str]], persona_params: list[str]) -> str:
    """The user's request for one call, in the blueprint's phrasing when it has one."""
    spec = draft.spec
    entities = spec.view(tool_name).entities
    field_of = {}
    for pname in spec.tools[tool_name].params:  # a parameter named like a field of a row the call touches sets that field
        for entity in entities.values():
            if pname in spec.entities[entity].fields:
                field_of[pname] = spec.entities[entity].fields[pname]
                break
    persona = draft.persona_entity
    return request(
        tool_name, spec.tools[tool_name], args, dict(rows), persona_params,
        persona_noun=entity_noun(persona, spec.entities[persona]) if persona else None, field_of=field_of, rng=draft.rng,
    )  # fmt: skip



def trial(state: State, tool: str, args: dict[str, Any]) -> ToolResult:
    """What a call would return now, leaving the state (and its journal) as it was."""
    with state.trial():
        return execute(state, tool, args)


def succeeds(state: State, tool: str, args: dict[str, Any]) -> bool:
    """Whether a call would succeed now within the policy (no agent-kept rule broken), leaving the
    state (and its journal) as it was."""
    result = trial(state, tool, args)
    return result.ok and not result.breaches


def fair_question(
    draft: Draft, entity: str, fname: str, value: Any, *, family: str = "", among: Sequence[Any] | None = None
) -> bool:
    """Ask about a value only while it has been the answer no more often than any other value of
    the field, so the task set's answers spread evenly and guessing the most common value in the
    data is worth no more than chance. ``among``: the values that could be the answer (a refusal's
    reasons are the values that forbid the call), when not every value of the field can."""
    if (entity, fname) not in draft.value_counts:  # asked before any write (questions, refusals): the initial state's
        draft.value_counts[(entity, fname)] = draft.state.value_counts(entity, fname)
    counts = draft.value_counts[(entity, fname)]
    if among is not None:
        counts = {v: n for v, n in counts.items() if v in among}
    values = set(counts)
    if len(values) < (1 if among is not None else 2):
        return False
    asked, key = draft.answered, f"{family}{entity}"
    if asked[(key, fname, value)] > min(asked[(key, fname, v)] for v in values):
        return False
    # accepted in inverse proportion to how common the value is, so every value is equally likely
    # to be the answer (min(1, (1/k)/share) favoured the commonest: 62% of two-valued questions)
    return draft.rng.random() < min(counts.values()) / counts[value]

