"""SIGTERM: the server stops accepting, lets the call in flight finish, and exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from scaleenv_mcp.serving import CONTROL_TOKEN_ENV

from ..conftest import ROOT

pytestmark = pytest.mark.e2e

TOKEN = "graceful-control-token-0123"


@pytest.mark.parametrize("revision", ["2026-07-28", "2025-06-18"])
def test_sigterm_lets_the_call_in_flight_finish_and_exits_0(revision: str) -> None:
    """On the session revision the SDK answers with a one-event stream, which sse-starlette used to
    end at the signal: the call was made and stored, and its client got a 200 with no body."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, CONTROL_TOKEN_ENV: TOKEN},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/control/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        made = httpx.post(f"{base}/control/episodes", json={}, headers={"authorization": f"Bearer {TOKEN}"}).json()["result"]
        arguments = {"name": "find_customer_by_email", "arguments": {"email": "nobody@example.org"}}
        if revision == "2026-07-28":
            meta = {"io.modelcontextprotocol/protocolVersion": revision, "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}}  # fmt: skip
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": meta, **arguments}}
            headers = "mcp-method: tools/call\r\nmcp-name: find_customer_by_email\r\n"
        else:  # a session first, as an SDK client opens one
            accept = {"accept": "application/json, text/event-stream"}
            init = {"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
            opened = httpx.post(base + made["path"], json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}, headers=accept)
            session = opened.headers["mcp-session-id"]
            notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            httpx.post(base + made["path"], json=notice, headers={**accept, "mcp-session-id": session, "mcp-protocol-version": revision})
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": arguments}
            headers = f"mcp-session-id: {session}\r\n"
        body = json.dumps(call).encode()
        head = (
            f"POST {made['path']} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            f"accept: application/json, text/event-stream\r\nmcp-protocol-version: {revision}\r\n{headers}"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(head + body[:20])  # the call is in flight: its headers are in, its body is not
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(OSError):  # no longer accepting
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            client.sendall(body[20:])
            client.settimeout(10)
            reply = b""
            while chunk := client.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
        assert b"not_found: no customer with email" in reply, reply[:600]
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
