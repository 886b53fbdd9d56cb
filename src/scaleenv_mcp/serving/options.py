"""The serving options, apart from the server: ``scaleenv --help`` should not have to import the MCP SDK."""

from __future__ import annotations

import argparse

__all__ = ["add_serve_options"]


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``scaleenv serve`` and of every generated ``python -m servers.<domain>``."""
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP host")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port")
    parser.add_argument("--task", help="start every session on this task's initial state; offers its instruction as a prompt")
    parser.add_argument("--control", help="Unix socket path for the harness-only control channel (verify, snapshot, ...)")
