"""Connections that send nothing, or trickle a request, are closed; whole requests are served as before."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Thread

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from scaleenv_mcp.serving.http import _GracefulServer, http_config

DEADLINE = 0.4


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"got {len(await request.body())} bytes")


@contextmanager
def serving() -> Iterator[int]:
    """A tiny app served in a thread with the real configuration and a short request deadline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = _GracefulServer(http_config(Starlette(routes=[Route("/", echo, methods=["POST"])]), port=port, request_seconds=DEADLINE))
    thread = Thread(target=server.run, daemon=True)  # not the main thread: uvicorn leaves signals alone
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (reading whatever it sent), failing past ``limit``."""
    start = time.monotonic()
    sock.settimeout(limit)
    while sock.recv(4096):
        pass
    return time.monotonic() - start


def test_a_silent_connection_and_a_trickled_request_are_closed_at_the_deadline() -> None:
    with serving() as port:
        with socket.create_connection(("127.0.0.1", port)) as silent:
            assert closed_after(silent, 5) < DEADLINE + 1
        with socket.create_connection(("127.0.0.1", port)) as slow:
            start = time.monotonic()
            request = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345"
            for byte in request:  # one byte every 20 ms: each arrival would reset an inactivity timer
                try:
                    slow.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.02)
                if time.monotonic() - start > DEADLINE + 1:
                    break
            assert closed_after(slow, 5) + (time.monotonic() - start) < DEADLINE + 2


def test_a_whole_request_is_served_and_its_connection_may_be_reused() -> None:
    with serving() as port, socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(5)
        for _ in range(2):
            client.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc")
            reply = b""
            while not reply.endswith(b"got 3 bytes"):
                reply += client.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200")
            time.sleep(DEADLINE * 1.5)  # idle between requests: the keep-alive timeout governs, not the request deadline


@pytest.mark.e2e
def test_an_idle_connection_outlives_the_time_clients_keep_theirs() -> None:
    """A connection idle for 6 s (longer than httpx, under the MCP SDK's client, keeps an idle one) is
    still open: the client retires it first, so no request is sent into a connection the server is
    closing (uvicorn's 5 s closed it, and a client reusing it then got a reset)."""
    import httpx

    assert httpx.Limits().keepalive_expiry is not None and httpx.Limits().keepalive_expiry < 6
    with serving() as port, socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(5)
        for turn in range(2):
            if turn:
                time.sleep(6)
            client.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc")
            reply = b""
            while not reply.endswith(b"got 3 bytes"):
                chunk = client.recv(4096)
                assert chunk, "the server closed the connection"
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200")
