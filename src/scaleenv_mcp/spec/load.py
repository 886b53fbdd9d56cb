"""Reading blueprints: YAML or JSON text becomes a validated :class:`DomainSpec`, or problems.

Problems are phrased for the blueprint's author, never in the validation library's words: a
mistake is one problem, with "did you mean" for a misspelt key, and (for a file) the line and
column of the node it is about, found by composing the YAML with PyYAML's node marks.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .model import DomainSpec
from .problems import BlueprintError, Problem, ProblemsFound, did_you_mean

__all__ = ["load_blueprint", "locate", "parse_blueprint"]


MAX_BYTES = 2_000_000
"""a blueprint file's size: the largest shipped one is under 20 kB"""
MAX_ALIASES = 200
"""YAML aliases (``*name``) in one blueprint"""
MAX_NODES = 500_000
"""values in a blueprint once aliases are expanded: nine aliases of nine aliases ... make billions"""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing alias bombs: aliases are counted as the document is composed."""

    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name); write the values out instead")
        return super().compose_node(parent, index)


def parse_blueprint(data: Any, source: str = "<blueprint>", nodes: yaml.Node | None = None) -> DomainSpec:
    """Validate already-parsed blueprint data into a spec, or raise :class:`BlueprintError`.

    ``nodes`` (the composed YAML the data came from) gives each problem its line and column."""
    if not isinstance(data, dict):
        problem = Problem(path="(top)", message="expected a mapping with name, entities, tools, ...")
        raise BlueprintError(source, locate([problem], nodes))
    try:
        return DomainSpec.model_validate(data)
    except ValidationError as exc:
        raise BlueprintError(source, locate(_problems_from(exc), nodes)) from None
    except RecursionError:
        raise BlueprintError(source, [Problem(path="(top)", message="nested too deeply to read")]) from None


def load_blueprint(path: str | Path) -> DomainSpec:
    """Read a YAML (or JSON) blueprint file into a validated spec; problems carry line and column."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise BlueprintError(
                source, [Problem(path="(file)", message=f"{size:,} bytes; a blueprint may have at most {MAX_BYTES:,}")]
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise BlueprintError(source, [Problem(path="(file)", message=f"cannot read: {why}")]) from None
    loader = _BoundedLoader(text)
    loader.name = source  # marks name the file, not '<unicode string>'
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise BlueprintError(source, [_yaml_problem(exc)]) from None
    except yaml.YAMLError as exc:
        raise BlueprintError(source, [Problem(path="(yaml)", message=str(exc).replace("\n", " "))]) from None
    except RecursionError:
        raise BlueprintError(source, [Problem(path="(yaml)", message="nested too deeply to read")]) from None
    finally:
        loader.dispose()
    try:
        count = _expanded_size(data, {})
    except RecursionError:
        raise BlueprintError(source, [Problem(path="(yaml)", message="nested too deeply to read")]) from None
    if count > MAX_NODES:
        message = f"{count:,} values once aliases are expanded; at most {MAX_NODES:,} are allowed"
        raise BlueprintError(source, [Problem(path="(yaml)", message=message)])
    return parse_blueprint(data, source, node)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> Problem:
    """A YAML syntax error as one problem at its line and column (PyYAML's own text names no file)."""
    mark = exc.problem_mark or exc.context_mark
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    problem_text = str(exc.problem or "")
    if "\t" in problem_text or "'\\t'" in problem_text or "tab" in problem_text:
        what = "a tab in the indentation; indent with spaces"
    elif "mapping values are not allowed" in problem_text:
        what = "a ': ' where no key can start; quote a value that contains ': ', or fix the indentation"
    elif "expected <block end>" in problem_text or "expected <block end>" in str(exc.context or ""):
        what = "this line's indentation does not line up with the lines above it"
    elif "found character" in problem_text and "cannot start any token" in problem_text:
        what = f"{problem_text.split(' that ', maxsplit=1)[0].removeprefix('found ')} cannot start a value; put the value in quotes"
    problem = Problem(path="(yaml)", message=f"not valid YAML: {what}")
    if mark is not None:
        problem = problem.model_copy(update={"line": mark.line + 1, "column": mark.column + 1})
    return problem


def _expanded_size(node: Any, seen: dict[int, int]) -> int:
    """How many values ``node`` holds when every shared (aliased) part is counted each time it appears."""
    if not isinstance(node, dict | list):
        return 1
    key = id(node)
    if key not in seen:
        children = list(node.values()) if isinstance(node, dict) else list(node)
        seen[key] = 1 + sum(_expanded_size(c, seen) for c in children)
    return seen[key]


# ---------------------------------------------------------------- positions

_PART = re.compile(r"\[(\d+)\]|<[^>]*>|\.?([^.\[<]+)")


def _path_parts(path: str) -> list[str | int]:
    return [int(m.group(1)) if m.group(1) is not None else m.group(2) for m in _PART.finditer(path) if m.group(0)[0] != "<"]


def _find(root: yaml.Node, path: str) -> tuple[yaml.Node, bool] | None:
    """The deepest node on ``path``, and whether all of the path was found (else its nearest parent)."""
    node = root
    for part in _path_parts(path):
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            return node, False
        node = child
    return node, True


def _key_node(root: yaml.Node, path: str) -> yaml.Node | None:
    """The key node of the last part of ``path`` (where an unknown key is written)."""
    parts = _path_parts(path)
    if not parts or not isinstance(parts[-1], str):
        return None
    parent = _find(root, path[: path.rindex(parts[-1])].rstrip("."))
    if parent is None or not parent[1] or not isinstance(parent[0], yaml.MappingNode):
        return None
    return next((k for k, _ in parent[0].value if isinstance(k, yaml.ScalarNode) and k.value == parts[-1]), None)


def locate(problems: list[Problem], root: yaml.Node | None) -> list[Problem]:
    """Each problem with the line and column of its node (for an expression, of its offending part)."""
    if root is None:
        return problems
    out = []
    for p in problems:
        if p.line is not None or p.path.startswith("("):
            out.append(p)
            continue
        key = _key_node(root, p.path) if p.message.startswith("unknown key") else None
        found = (key, True) if key is not None else _find(root, p.path)
        if found is None:
            out.append(p)
            continue
        node, exact = found
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        style = node.style if isinstance(node, yaml.ScalarNode) else "|"
        inline = style in (None, "'", '"') and node.start_mark.line == node.end_mark.line
        if exact and p.start is not None and inline and "\n" not in str(node.value):
            column += (1 if style else 0) + p.start
        out.append(p.model_copy(update={"line": line, "column": column}))
    return sorted(out, key=lambda p: (p.line or 0, p.column or 0))  # in file order, as a compiler reports


# ---------------------------------------------------------------- pydantic's errors, in the author's words

_TAG = re.compile(r"^(str|int|float|bool|none|[A-Z][A-Za-z]*)$")
_EFFECT_KEYS = {"create": "CreateEffect", "delete": "DeleteEffect", "for_each": "ForEachEffect"}
_ANNOTATION_TAGS = {"str": str, "int": int, "float": float, "bool": bool}


def _problems_from(exc: ValidationError) -> list[Problem]:
    """One problem per mistake: a value that fits no arm of a union (an effect) is one problem, from
    the arm its keys choose, not one per arm; cross-reference problems come through as they are."""
    problems: list[Problem] = []
    unions: dict[tuple[Any, ...], list[Any]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        cross = (err.get("ctx") or {}).get("error")
        if isinstance(cross, ProblemsFound):
            problems.extend(cross.problems)
            continue
        tag = next((i for i, part in enumerate(loc) if isinstance(part, str) and _TAG.match(part)), None)
        if tag is not None:
            unions.setdefault(loc[:tag], []).append(err)
            continue
        problems.append(_problem(loc, err))
    for prefix, errs in unions.items():
        problems.extend(_union_problems(prefix, errs))
    return problems


def _problem(loc: tuple[Any, ...], err: Any) -> Problem:
    path = _format_loc(loc) or "(top)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        options = sorted(_keys(model)) if model is not None else []
        return Problem(path=path, message=f"unknown key {loc[-1]!r}{did_you_mean(str(loc[-1]), options, 'keys here')}")
    if kind == "missing":
        return Problem(path=path, message="required key is missing")
    given = err.get("input")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        close = did_you_mean(str(given), options)
        return Problem(path=path, message=f"{given!r} is not one of {', '.join(options)}" if not close.startswith(";")
                       else f"{given!r} is not allowed here{close}")  # fmt: skip
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return Problem(path=path, message=f"expected {expected}, got {given!r}" if not isinstance(given, dict | list)
                       else f"expected {expected}, got a {'mapping' if isinstance(given, dict) else 'list'}")  # fmt: skip
    if kind not in ("value_error", "assertion_error") and not isinstance(given, dict | list):
        msg = f"{msg[:1].lower()}{msg[1:]} (got {given!r})"
    return Problem(path=path, message=msg)


_EXPECTED = {
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "text", "list_type": "a list", "tuple_type": "a list of two values", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}  # fmt: skip
"""what a value of the wrong shape should have been, in a blueprint author's words"""


def _union_problems(prefix: tuple[Any, ...], errs: list[Any]) -> list[Problem]:
    path = _format_loc(prefix) or "(top)"
    given = errs[0].get("input") if errs and len(errs[0]["loc"]) == len(prefix) + 1 else None
    arms = {str(e["loc"][len(prefix)]) for e in errs}
    if isinstance(given, dict) and {"CreateEffect", "DeleteEffect"} & arms:
        chosen = next((arm for key, arm in _EFFECT_KEYS.items() if key in given), None)
        if chosen is None:
            keys = ", ".join(map(str, given)) or "none"
            if "when" in given:
                return [Problem(path=path, message="an assignment cannot take 'when': write the condition into the value, "
                                "x if c else y (\"order.fee = 25 if late else order.fee\")")]  # fmt: skip
            return [Problem(path=path, message=f"an effect is an assignment (\"order.status = 'paid'\") or a mapping with "
                            f"create, delete or for_each; this one has {keys}")]  # fmt: skip
        return [_problem(tuple(e["loc"][: len(prefix)]) + tuple(e["loc"][len(prefix) + 1 :]), e)
                for e in errs if e["loc"][len(prefix)] == chosen]  # fmt: skip
    if isinstance(given, dict) and "IncludeSpec" in arms:
        return [_problem(tuple(e["loc"][: len(prefix)]) + tuple(e["loc"][len(prefix) + 1 :]), e)
                for e in errs if e["loc"][len(prefix)] == "IncludeSpec"]  # fmt: skip
    if isinstance(given, str) and "str" in arms:
        return [_problem(prefix, e) for e in errs if e["loc"][len(prefix)] == "str"][:1]
    expected = " or ".join(sorted(a if a[:1].islower() else "a mapping" for a in arms))
    return [Problem(path=path, message=f"expected {expected}, got {given!r}" if not isinstance(given, dict | list)
                    else f"expected {expected}")]  # fmt: skip


def _keys(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class a location inside a blueprint validates against (for "did you mean" on keys)."""
    current: Any = DomainSpec
    parts = list(loc)
    while parts:
        current = _unwrap(current, parts[0] if isinstance(parts[0], str) and _TAG.match(parts[0]) else None)
        if isinstance(current, type) and issubclass(current, BaseModel):
            part = parts.pop(0)
            if isinstance(part, str) and _TAG.match(part):
                continue
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        if origin in (dict, list):
            current = typing.get_args(current)[-1]
            parts.pop(0)
            continue
        return None
    current = _unwrap(current, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, tag: str | None) -> Any:
    """Through Annotated and unions to the arm a tag names (or the first model arm)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arms = typing.get_args(annotation)
            named = [a for a in arms if getattr(a, "__name__", None) == tag or (tag in _ANNOTATION_TAGS and a is _ANNOTATION_TAGS[tag])]
            models = [a for a in arms if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = (named or models or [arms[0]])[0]
        else:
            return annotation


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _TAG.match(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out
