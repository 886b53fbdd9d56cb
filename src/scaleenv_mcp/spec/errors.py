"""Problems with a blueprint, as values: a path into the blueprint and what is wrong there."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["BlueprintError", "Problem"]


class Problem(BaseModel):
    """One thing wrong with a blueprint: ``path`` (``tools.cancel_order.effects[1]``) and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class BlueprintError(ValueError):
    """A blueprint that does not validate; ``problems`` say where and what, ``source`` which file."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: invalid blueprint ({len(problems)} problem{'s' * (len(problems) != 1)})\n{lines}")
