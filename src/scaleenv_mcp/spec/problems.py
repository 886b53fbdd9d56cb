"""Problems with a blueprint, as values: where in the blueprint, what is wrong there, and how to fix it.

A problem always has a ``path`` into the blueprint (``tools.cancel_order.effects[1]``). When the
blueprint came from a file, it also has the ``line`` and ``column`` (1-based) of the offending
node, and inside an expression the ``expr`` text with the ``start``/``end`` of the offending part,
so an error can put a caret under it, the way a compiler does.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel

from ..errors import ScaleenvError

__all__ = ["BlueprintError", "Problem", "ProblemsFound", "did_you_mean"]


def did_you_mean(name: str, options: Iterable[str], what: str = "") -> str:
    """'; did you mean 'customer'?' for the closest of ``options`` to a misspelt ``name``; otherwise
    the options themselves (``what`` names them: 'fields: a, b'), so the author always sees what is allowed."""
    choices = [str(o) for o in options]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not choices:
        return ""
    shown = ", ".join(choices[:30]) + (", ..." if len(choices) > 30 else "")
    return f" ({what + ': ' if what else ''}{shown})"


class Problem(BaseModel):
    """One thing wrong with a blueprint: ``path`` (``tools.cancel_order.effects[1]``) and a message,
    with its position once the blueprint's file is known."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    expr: str | None = None
    """the expression the problem is in, when it is in one"""
    start: int | None = None
    """offset of the offending part in ``expr`` (characters)"""
    end: int | None = None

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}"

    def caret(self) -> str:
        """The expression with a caret line under its offending part ('' outside an expression)."""
        if self.expr is None or self.start is None or "\n" in self.expr:
            return ""
        width = max(1, (self.end or self.start + 1) - self.start)
        return f"    {self.expr}\n    {' ' * self.start}{'^' * width}"

    def render(self, source: str) -> str:
        """``file:line:column: path: message``, then the caret lines if any."""
        where = f"{source}:{self.line}:{self.column}" if self.line is not None else source
        text = f"{where}: {self.path}: {self.message}"
        caret = self.caret()
        return f"{text}\n{caret}" if caret else text


class BlueprintError(ScaleenvError, ValueError):
    """A blueprint that does not validate; ``problems`` say where and what, ``source`` which file."""

    default_status = 400

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p.render(source)}" if p.line is not None else f"  {p}" for p in problems)
        super().__init__(f"{source}: invalid blueprint ({len(problems)} problem{'s' * (len(problems) != 1)})\n{lines}")


class ProblemsFound(ScaleenvError, ValueError):
    """Raised inside validation by the cross-reference check, carrying its problems as values (so
    their expression offsets survive the validation library, which keeps the exception)."""

    default_status = 400

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
