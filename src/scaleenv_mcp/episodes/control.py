"""The harness-only control channel: verify, snapshot, restore, diff over a Unix socket.

The agent under test talks MCP on stdio and is never given this channel: it is a
separate socket, created with owner-only permissions at a path the harness chooses
(``scaleenv serve DOMAIN --task ID --control PATH``). A peer exposed verification as a
tool and the reward leaked mid-episode; here nothing about checks, solutions or rewards
is reachable through the MCP session at all.

Protocol: one JSON object per line each way, e.g. ``{"op": "verify", "answer": "..."}``
-> ``{"ok": true, "result": {...}}``. Ops: status, verify, diff, calls, snapshot, restore, reset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from .coordinator import Coordinator, EpisodeError

__all__ = ["ControlClient", "ControlError", "serve_control"]

DEFAULT_EPISODE = "default"
_MAX_LINE = 1 << 20


class ControlError(RuntimeError):
    """The control channel refused a request or could not be reached."""


def _handle(coordinator: Coordinator, task_id: str | None, request: dict[str, Any]) -> Any:
    op = request.get("op")
    episode_id = str(request.get("episode") or DEFAULT_EPISODE)
    if op == "status":
        return {"domain": coordinator.spec.name, "task": task_id, "episodes": sorted(coordinator.episodes)}
    if episode_id not in coordinator.episodes:
        coordinator.start(task_id, episode_id)
    if op == "verify":
        answer = request.get("answer")
        return coordinator.verify(episode_id, answer if isinstance(answer, str) else None).model_dump(mode="json")
    if op == "diff":
        return coordinator.diff(episode_id).model_dump(mode="json")
    if op == "calls":
        return [c.model_dump(mode="json") for c in coordinator.episode(episode_id).calls]
    if op == "snapshot":
        return {"name": coordinator.snapshot(episode_id, request.get("name"))}
    if op == "restore":
        coordinator.restore(episode_id, str(request.get("name")))
        return {"restored": request.get("name")}
    if op == "reset":
        coordinator.reset(episode_id)
        return {"reset": episode_id}
    raise ControlError(f"unknown op {op!r}; ops: status, verify, diff, calls, snapshot, restore, reset")


async def _serve_client(stream: SocketStream, coordinator: Coordinator, task_id: str | None) -> None:
    buffered = BufferedByteReceiveStream(stream)
    async with stream:
        while True:
            try:
                line = await buffered.receive_until(b"\n", _MAX_LINE)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ControlError("a request is a JSON object")
                reply = {"ok": True, "result": _handle(coordinator, task_id, request)}
            except (json.JSONDecodeError, ControlError, EpisodeError) as exc:
                reply = {"ok": False, "error": str(exc)}
            await stream.send(json.dumps(reply).encode() + b"\n")


async def serve_control(
    path: str | Path, coordinator: Coordinator, task_id: str | None, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Listen on a Unix socket until cancelled; the socket file is readable by its owner only."""
    path = Path(path)
    if path.exists():
        path.unlink()
    old_umask = os.umask(0o177)
    try:
        listener = await anyio.create_unix_listener(path)
    finally:
        os.umask(old_umask)
    async with listener:
        task_status.started()

        async def handle(stream: SocketStream) -> None:
            await _serve_client(stream, coordinator, task_id)

        try:
            await listener.serve(handle)
        finally:
            path.unlink(missing_ok=True)


class ControlClient:
    """The harness side: one request per connection, so a crashed server gives a clear error."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    async def request(self, op: str, **fields: Any) -> Any:
        try:
            with anyio.fail_after(self.timeout):
                async with await anyio.connect_unix(self.path) as stream:
                    await stream.send(json.dumps({"op": op, **fields}).encode() + b"\n")
                    line = await BufferedByteReceiveStream(stream).receive_until(b"\n", _MAX_LINE * 16)
        except (OSError, TimeoutError, anyio.EndOfStream, anyio.IncompleteRead) as exc:
            raise ControlError(f"control channel {self.path} is not answering ({type(exc).__name__}: {exc})") from None
        reply = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error")))
        return reply["result"]

    async def verify(self, answer: str | None = None, episode: str = DEFAULT_EPISODE) -> dict[str, Any]:
        return dict(await self.request("verify", answer=answer, episode=episode))

    async def wait_ready(self, timeout: float = 30.0) -> None:
        with anyio.fail_after(timeout):
            while True:
                try:
                    await self.request("status")
                    return
                except ControlError:
                    await anyio.sleep(0.05)
