"""Reading blueprints: YAML or JSON text becomes a validated :class:`DomainSpec`, or problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import BlueprintError, Problem
from .model import DomainSpec

__all__ = ["load_blueprint", "parse_blueprint"]


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


def parse_blueprint(data: Any, source: str = "<blueprint>") -> DomainSpec:
    """Validate already-parsed blueprint data into a spec, or raise :class:`BlueprintError`."""
    if not isinstance(data, dict):
        raise BlueprintError(source, [Problem(path="(top)", message="expected a mapping with name, entities, tools, ...")])
    try:
        return DomainSpec.model_validate(data)
    except ValidationError as exc:
        raise BlueprintError(source, _problems_from(exc)) from None
    except RecursionError:
        raise BlueprintError(source, [Problem(path="(top)", message="nested too deeply to read")]) from None


def load_blueprint(path: str | Path) -> DomainSpec:
    """Read a YAML (or JSON) blueprint file into a validated spec."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise BlueprintError(
                str(path), [Problem(path="(file)", message=f"{size:,} bytes; a blueprint may have at most {MAX_BYTES:,}")]
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise BlueprintError(str(path), [Problem(path="(file)", message=f"cannot read: {why}")]) from None
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise BlueprintError(str(path), [Problem(path="(yaml)", message=str(exc).replace("\n", " "))]) from None
    except RecursionError:
        raise BlueprintError(str(path), [Problem(path="(yaml)", message="nested too deeply to read")]) from None
    try:
        nodes = _expanded_size(data, {})
    except RecursionError:
        raise BlueprintError(str(path), [Problem(path="(yaml)", message="nested too deeply to read")]) from None
    if nodes > MAX_NODES:
        message = f"{nodes:,} values once aliases are expanded; at most {MAX_NODES:,} are allowed"
        raise BlueprintError(str(path), [Problem(path="(yaml)", message=message)])
    return parse_blueprint(data, str(path))


def _expanded_size(node: Any, seen: dict[int, int]) -> int:
    """How many values ``node`` holds when every shared (aliased) part is counted each time it appears."""
    if not isinstance(node, dict | list):
        return 1
    key = id(node)
    if key not in seen:
        children = list(node.values()) if isinstance(node, dict) else list(node)
        seen[key] = 1 + sum(_expanded_size(c, seen) for c in children)
    return seen[key]


def _problems_from(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _format_loc(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if (err["type"] == "value_error" and "\n" in msg) or (not err["loc"] and ": " in msg):
            for line in msg.splitlines():
                p, _, m = line.partition(": ")
                problems.append(Problem(path=p, message=m))
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the blueprint format)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error",):
            msg = f"{msg} (got {err['input']!r})" if not isinstance(err["input"], dict | list) else msg
        problems.append(Problem(path=loc or "(top)", message=msg))
    return problems


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in ("str", "CreateEffect", "DeleteEffect"):
            out += f"<{part}>"
        else:
            out += f".{part}" if out else str(part)
    return out
