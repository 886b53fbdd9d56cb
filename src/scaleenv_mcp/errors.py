"""The one root of every error scaleenv raises on purpose, carrying the status a transport answers with.

Every transport (the HTTP control plane, the NeMo Gym routes, the stdio control socket, MCP tool
errors, the command line) turns a refused request into a reply the same way: ``err.status`` is the
HTTP-style code and ``err.reason`` the one line a person reads. So a new error class needs no table
in any transport, and the same refusal answers the same on every path.

The codes: 400 bad input, 401 no or wrong token, 404 unknown (episode, task, domain, snapshot),
409 conflict with what exists (verifying free play, a task made for another state), 410 gone (an
episode lost with its worker), 413 too large, 429 over a capacity, 500 a fault of ours or of a
configuration, 502 an upstream (the model endpoint) failed, 503 not reachable now (try again).

This module imports nothing of the package: every layer, and the leaf LLM client, may derive from it.
Classes that were :class:`ValueError`, :class:`LookupError` or :class:`RuntimeError` before keep that
base beside this one, so ``except ValueError`` in callers still catches them.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["MAX_REASON", "ScaleenvError"]

MAX_REASON = 500
"""characters of a reason at most: replies and logs stay one bounded line"""


class ScaleenvError(Exception):
    """An error with the status a transport answers it with and a one-line reason.

    Subclasses set :attr:`default_status`; one raise may override it (``status=...``), e.g. a
    control-plane refusal that is a 401 rather than a 400."""

    default_status: ClassVar[int] = 500
    _status: int | None = None

    def __init__(self, *args: object, status: int | None = None) -> None:
        super().__init__(*args)
        self._status = status

    @property
    def status(self) -> int:
        """The HTTP-style code every transport answers this error with."""
        return self._status if self._status is not None else self.default_status

    @property
    def reason(self) -> str:
        """The message's first line (at most :data:`MAX_REASON` characters), else the class name:
        what a reply says, whatever the transport."""
        first = str(self).strip().split("\n", 1)[0].strip()
        return first[:MAX_REASON] if first else type(self).__name__
