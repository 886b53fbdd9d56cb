"""How a task reads: names of tools, fields and values turned into a user's words.

Today this is templated wording (tool and field names as phrases); a blueprint's own
phrasings are the next step, and this module is where they will be applied.
"""

from __future__ import annotations

from typing import Any

from ..spec.model import EntitySpec
from .grader import format_answer_value

__all__ = ["describing_fields", "sentence", "words"]


def words(name: str) -> str:
    """``customer_id`` -> ``customer``, ``placed_on`` -> ``placed on``."""
    return name.removesuffix("_id").replace("_", " ")


def describing_fields(entity: EntitySpec) -> list[str]:
    """Fields in the order a person would use them to single out a row."""
    order = [n for n, f in entity.fields.items() if f.identifying]
    if entity.label and entity.label not in order:
        order.append(entity.label)
    order += [n for n, f in entity.fields.items() if f.type == "ref" and n not in order]
    order += [n for n, f in entity.fields.items() if f.type in ("date", "datetime") and n not in order]
    order += [n for n, f in entity.fields.items() if f.type in ("enum", "string") and n not in order]
    order += [n for n, f in entity.fields.items() if f.type in ("int", "money", "float") and n not in order]
    return order


def sentence(
    tool_name: str, params: dict[str, Any], args: dict[str, Any], phrases: list[tuple[str, str]], skip: list[str]
) -> str:
    """One request: the tool's name as a verb phrase, the rows as the user describes them, the values."""
    text = words(tool_name)
    for pname, phrase in phrases:
        noun = words(pname)
        if f" {noun}" in f" {text}":
            text = f" {text} ".replace(f" {noun} ", f" {phrase} ", 1).strip()
        else:
            text += f" for {phrase}"
    extras = [
        f"{words(p)} {format_answer_value(args[p])}"
        for p, spec in params.items()
        if p in args and spec.type != "ref" and p not in skip
    ]
    if extras:
        text += " with " + ", ".join(extras)
    return text[0].upper() + text[1:] + "."
