"""The harness-only control socket: every bad request gets an error reply, never a dead server; paths are safe."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from scaleenv_mcp.episodes import control as control_module
from scaleenv_mcp.episodes.control import DEFAULT_EPISODE, ControlClient, ControlError, claim_socket_path, serve_control
from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.errors import ScaleenvError
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec


def service_with_task() -> EpisodeService:
    tasks = load_domain_tasks(PATHS, "retail")
    service = EpisodeService(Coordinator(shipped_spec("retail"), tasks), default_task=tasks[1].id)
    service.coordinator.start(tasks[1].id, DEFAULT_EPISODE)
    service.adopt(DEFAULT_EPISODE)
    return service


def raw(path: Path, payload: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        # the server may answer and hang up before reading it all (a line over its limit)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return dict(json.loads(data))


BAD = [
    (b"not json\n", "Expecting value"),
    (b"[1, 2]\n", "a request is a JSON object"),
    (b'{"op": "explode"}\n', "unknown op 'explode'"),
    (b'{"op": "snapshot", "name": ["a", "b"]}\n', "'name' must be a name"),
    (b'{"op": "restore"}\n', "restore needs the 'name'"),
    (b'{"op": "verify", "answer": {"x": 1}}\n', "'answer' must be text"),
    (b'{"op": "verify", "episode": "nobody"}\n', "episode 'nobody' not found"),
    (b'{"op": "verify", "episode": 7}\n', "'episode' must be a name"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "recursion"),
]


async def test_bad_requests_get_error_replies_and_the_server_keeps_answering(tmp_path: Path) -> None:
    service = service_with_task()
    path = tmp_path / "ctl.sock"
    async with anyio.create_task_group() as tg:
        await tg.start(serve_control, path, service)
        for payload, message in BAD:
            reply = await anyio.to_thread.run_sync(raw, path, payload)
            assert reply["ok"] is False and message in reply["error"], (payload[:40], reply)
        too_long = await anyio.to_thread.run_sync(raw, path, b'{"op": "status", "pad": "' + b"x" * (2 << 20) + b'"}\n')
        assert too_long["ok"] is False and "longer than" in too_long["error"] and too_long["status"] == 413
        control = ControlClient(path)
        assert (await control.request("status"))["episodes"] == [DEFAULT_EPISODE]  # nothing was created
        assert not (await control.verify())["success"]
        tg.cancel_scope.cancel()
    assert not path.exists()  # removed on exit


@asynccontextmanager
async def bounded_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, connections: int) -> AsyncIterator[Path]:
    """A control socket with a 0.5 s line and reply deadline and ``connections`` at most, served while inside."""
    monkeypatch.setattr(control_module, "LINE_SECONDS", 0.5)
    monkeypatch.setattr(control_module, "MAX_CONNECTIONS", connections)
    path = tmp_path / "ctl.sock"
    async with anyio.create_task_group() as tg:
        await tg.start(serve_control, path, service_with_task())
        yield path
        tg.cancel_scope.cancel()


async def test_a_half_line_held_open_is_closed_and_connections_past_the_cap_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each connection may hold a megabyte of unfinished line: without a deadline and a cap, 200 of
    them held 200 MB for as long as they liked."""
    async with bounded_socket(tmp_path, monkeypatch, connections=3) as path:
        held = [await anyio.connect_unix(path) for _ in range(3)]
        for stream in held:
            await stream.send(b'{"op": "status", "pad": "' + b"x" * 1000)  # never finished
        refused = await anyio.to_thread.run_sync(raw, path, b'{"op": "status"}\n')
        assert refused == {"ok": False, "error": "3 control connections are open, the most this server takes; close one and try again",
                           "status": 503}  # fmt: skip
        with anyio.fail_after(5):
            for stream in held:  # each is told why and closed once its deadline passes
                reply = json.loads(await stream.receive())
                assert reply == {"ok": False, "error": "no whole request line in 0.5 s; connection closed", "status": 408}
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()
                await stream.aclose()
        assert (await ControlClient(path).request("status"))["episodes"] == [DEFAULT_EPISODE]  # room again


async def test_a_client_that_never_reads_its_replies_loses_its_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 clients writing requests and reading nothing held every slot for as long as they liked."""
    async with bounded_socket(tmp_path, monkeypatch, connections=1) as path:
        greedy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        greedy.connect(str(path))
        greedy.setblocking(False)
        with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
            for _ in range(20_000):  # far more replies than the socket's buffers hold, none of them read
                greedy.send(b'{"op": "metrics"}\n')
        with anyio.fail_after(10):
            while True:  # its slot comes free once a reply has waited past the deadline
                reply = await anyio.to_thread.run_sync(raw, path, b'{"op": "status"}\n')
                if reply["ok"]:
                    break
                assert reply["status"] == 503
                await anyio.sleep(0.2)
        greedy.close()


async def test_episodes_made_on_a_stdio_server_s_control_socket_count_against_its_caps(tmp_path: Path) -> None:
    """``serve --control`` with ``--max-episodes``: the caps hold there as over HTTP (they were not passed on)."""
    from mcp import Client

    from scaleenv_mcp.serving.server import ServerPlan

    path = tmp_path / "ctl.sock"
    plan = ServerPlan.per_connection(shipped_spec("retail"), control_path=path, max_episodes=2, max_per_creator=2)
    async with Client(plan.build()):
        control = ControlClient(path)
        await control.request("create", creator="harness")
        await control.request("create", creator="harness")
        with pytest.raises(ControlError) as refused:
            await control.request("create", creator="harness")
        assert refused.value.status == 429


def test_a_path_that_is_not_ours_is_refused_and_left_alone(tmp_path: Path) -> None:
    regular = tmp_path / "notes.txt"
    regular.write_text("keep me")
    folder = tmp_path / "folder"
    folder.mkdir()
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "nowhere")
    for path, what in [(regular, "is a file"), (folder, "is a folder"), (dangling, "is a symlink"),
                       (tmp_path / ("x" * 120), "Unix sockets allow 107"), (tmp_path / "no" / "sock", "does not exist")]:  # fmt: skip
        with pytest.raises(ControlError, match=what):
            claim_socket_path(path)
    assert regular.read_text() == "keep me" and folder.is_dir() and os.path.islink(dangling)


async def test_a_second_server_cannot_take_a_live_socket_but_may_reuse_a_stale_one(tmp_path: Path) -> None:
    service = service_with_task()
    path = tmp_path / "ctl.sock"
    async with anyio.create_task_group() as tg:
        await tg.start(serve_control, path, service)
        with pytest.raises(ControlError, match="in use by another server"):
            claim_socket_path(path)
        tg.cancel_scope.cancel()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a socket file nobody listens on
    stale.close()
    claim_socket_path(path)
    assert not path.exists()


async def test_with_a_token_every_request_must_carry_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = service_with_task()
    path = tmp_path / "ctl.sock"
    async with anyio.create_task_group() as tg:
        await tg.start(partial(serve_control, path, service, token="a-secret-of-24-characters"))
        with pytest.raises(ControlError, match="missing or wrong control token"):
            await ControlClient(path, token="wrong").request("status")
        monkeypatch.setenv("SCALEENV_CONTROL_TOKEN", "a-secret-of-24-characters")
        assert (await ControlClient(path).request("status"))["episodes"] == [DEFAULT_EPISODE]  # taken from the environment
        tg.cancel_scope.cancel()


def test_a_snapshot_past_the_cap_is_a_429_with_the_reason() -> None:
    from scaleenv_mcp.episodes.control import handle_request

    service = EpisodeService(Coordinator(shipped_spec("retail"), max_snapshots=2))
    episode = service.create().episode
    for name in ("one", "two"):
        assert handle_request(service, {"op": "snapshot", "episode": episode, "name": name}) == {"name": name}
    with pytest.raises(ScaleenvError, match="holds 2 snapshots, the cap") as info:  # its status goes with it
        handle_request(service, {"op": "snapshot", "episode": episode, "name": "three"})
    assert info.value.status == 429
