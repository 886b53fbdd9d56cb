"""Reading blueprints: YAML or JSON text becomes a validated :class:`DomainSpec`, or problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import BlueprintError, Problem
from .model import DomainSpec

__all__ = ["load_blueprint", "parse_blueprint"]


def parse_blueprint(data: Any, source: str = "<blueprint>") -> DomainSpec:
    """Validate already-parsed blueprint data into a spec, or raise :class:`BlueprintError`."""
    if not isinstance(data, dict):
        raise BlueprintError(source, [Problem(path="(top)", message="expected a mapping with name, entities, tools, ...")])
    try:
        return DomainSpec.model_validate(data)
    except ValidationError as exc:
        raise BlueprintError(source, _problems_from(exc)) from None


def load_blueprint(path: str | Path) -> DomainSpec:
    """Read a YAML (or JSON) blueprint file into a validated spec."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BlueprintError(str(path), [Problem(path="(file)", message=f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BlueprintError(str(path), [Problem(path="(yaml)", message=str(exc).replace("\n", " "))]) from None
    return parse_blueprint(data, str(path))


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
