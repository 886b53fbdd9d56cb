"""Serve this domain: stdio by default, streamable HTTP with --http [--port N]."""

from scaleenv_mcp.serving import serve_main

from . import load_spec

raise SystemExit(serve_main(load_spec()))
