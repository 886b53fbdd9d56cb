"""The serving options, apart from the server: ``scaleenv --help`` should not have to import the MCP SDK."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_serve_options"]


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``scaleenv serve`` and of every generated ``python -m servers.<domain>``."""
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP host")
    parser.add_argument("--port", type=_port, default=8000, help="HTTP port (0: any free one)")
    parser.add_argument("--task", help="start every session on this task's initial state; offers its instruction as a prompt")
    parser.add_argument("--control", help="Unix socket path for the harness-only control channel (verify, snapshot, ...)")
    parser.add_argument("--answer-channel", choices=["typed", "prose"], default="typed",
                        help="with --task: a question is answered through the task's submit_answer tool (typed) or in the final message (prose)")  # fmt: skip
    http = parser.add_argument_group("HTTP episodes (the control token comes from $SCALEENV_CONTROL_TOKEN)")
    http.add_argument(
        "--idle-seconds", type=_positive(float), default=900.0,
        help="end an episode after this long without a call (over HTTP, and those made on a stdio --control socket)",
    )
    http.add_argument("--max-episodes", type=_positive(int), default=10_000, help="live episodes this server holds at most")
    http.add_argument("--max-per-creator", type=_positive(int), default=2_000, help="live episodes one creator holds at most")
    http.add_argument("--awake-states", type=_positive(int), default=None,
                      help="episodes kept with a live database (default: the coordinator's HOT_STATES, 2,048); the least recently used "
                           "others sleep as the rows they changed, about 2 KiB each, and wake on their next call")  # fmt: skip
    http.add_argument("--workers", type=_positive(int), default=1,
                      help="server processes; episodes are spread over them and agents talk to theirs directly")  # fmt: skip
    http.add_argument("--allowed-host", action="append", metavar="HOST:PORT",
                      help="accept only these Host headers (repeatable; loopback is always checked)")  # fmt: skip
    http.add_argument("--state-dir", metavar="DIR",
                      help="keep every episode on disk here (SQLite): after a crash or restart each comes back on its handle")  # fmt: skip
    http.add_argument("--nemo-gym", action="store_true",
                      help="also speak NeMo Gym's resources-server protocol: /seed_session, /<tool>, /verify")  # fmt: skip
    http.add_argument("--gym-grace-seconds", type=_positive(float), default=120.0,
                      help="with --nemo-gym: end a rollout's episode this long after its last call when /verify never comes")  # fmt: skip


def _port(text: str) -> int:
    """A TCP port, checked here so a typo is one line and not a traceback from the socket layer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0 to 65535)")
    return value


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < float("inf"):  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
        return value

    return parse
