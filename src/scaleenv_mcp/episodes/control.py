"""The harness-only control channel: verify, snapshot, restore, diff over a Unix socket.

The agent under test talks MCP on stdio and is never given this channel: it is a
separate socket, created with owner-only permissions at a path the harness chooses
(``scaleenv serve DOMAIN --task ID --control PATH``). A peer exposed verification as a
tool and the reward leaked mid-episode; here nothing about checks, solutions or rewards
is reachable through the MCP session at all.

Protocol: one JSON object per line each way, e.g. ``{"op": "verify", "answer": "..."}``
-> ``{"ok": true, "result": {...}}``, or ``{"ok": false, "error": <one-line reason>, "status": <the
HTTP control plane's status for it>}``; the ops are :data:`OPS`, the same as the HTTP control plane's
(:mod:`scaleenv_mcp.serving.http`). Without ``"episode"`` a request means the stdio session's own
episode, ``default``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from ..errors import ScaleenvError
from ..spec.task import REWARD_MODES
from ..tasks.grader import DEFAULT_MODE
from .coordinator import check_name
from .service import EpisodeService

__all__ = ["OPS", "ControlClient", "ControlError", "check_token", "claim_socket_path", "handle_request", "serve_control"]

DEFAULT_EPISODE = "default"
_MAX_LINE = 1 << 20
LINE_SECONDS = 65.0
"""how long a connection may take to send its next whole request line (idle time included), as an
HTTP connection may stay idle: a half line held open no longer holds its megabyte for ever"""
MAX_CONNECTIONS = 64
"""control connections open at once; past it a new one is refused (each may hold a megabyte of line)"""
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL on Linux
logger = logging.getLogger("scaleenv_mcp.control")


class ControlError(ScaleenvError, RuntimeError):
    """The control plane refused a request or could not be reached; ``status`` is the HTTP status it maps to."""

    default_status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, status=status)


OPS = ("health", "status", "metrics", "list", "create", "delete", "verify", "diff", "calls", "snapshot", "restore", "reset")
"""Every control operation; the HTTP control plane and the Unix socket offer the same ones."""

def _text_field(request: dict[str, Any], key: str, default: str | None = None) -> str | None:
    return check_name(key, request.get(key, default))


def handle_request(service: EpisodeService, request: dict[str, Any], *, default_episode: str | None = None) -> Any:
    """Carry out one control request; anything refused raises a :class:`~scaleenv_mcp.errors.ScaleenvError`
    whose ``status`` and ``reason`` every transport answers with (no table here or there)."""
    op = request.get("op")
    if op not in OPS:
        raise ControlError(f"unknown op {str(op)[:40]!r}; ops: {', '.join(OPS)}")
    coordinator = service.coordinator
    if op == "health":
        return {"ok": True, "domain": coordinator.spec.name, "live_episodes": len(service.handles)}
    if op == "status":
        return {"domain": coordinator.spec.name, "task": service.default_task, "episodes": sorted(service.handles)[:1000]}
    if op == "metrics":
        return service.metrics()
    if op == "list":
        return service.listing(_text_field(request, "creator"))
    if op == "create":  # the fields as sent: the service's one check of a create request refuses them, not this
        handle = service.create(
            task=request.get("task"), seed=request.get("seed"), creator=request.get("creator", "harness"),
            channel=request.get("answer_channel", "typed"),
        )  # fmt: skip
        return {**handle.public(), "token": handle.token, "path": f"/episodes/{handle.token}/mcp"}
    episode_id = _text_field(request, "episode", default_episode)
    if episode_id is None:
        raise ControlError(f"{op} needs the 'episode' that create returned")
    service.episode_id(episode_id)  # unknown: EpisodeError, 404
    if op == "delete":
        service.end(episode_id)
        return {"deleted": episode_id}
    if op == "verify":
        answer = request.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise ControlError("'answer' must be text or null")
        mode = request.get("mode", DEFAULT_MODE)
        if mode not in REWARD_MODES:
            raise ControlError(f"'mode' must be one of {', '.join(REWARD_MODES)}")
        # the grader bounds the answer's length itself; free play has nothing to verify against (409)
        return coordinator.verify(episode_id, answer, mode=mode).model_dump(mode="json")
    if op == "diff":
        return coordinator.diff(episode_id).model_dump(mode="json")
    if op == "calls":
        return [c.model_dump(mode="json") for c in coordinator.episode(episode_id).calls]
    if op == "snapshot":
        return {"name": service.snapshot(episode_id, _text_field(request, "name"))}  # at the cap: 429
    if op == "restore":
        name = _text_field(request, "name")
        if name is None:
            raise ControlError("restore needs the 'name' a snapshot returned")
        service.restore(episode_id, name)  # no such snapshot: 404
        return {"restored": name}
    service.reset(episode_id)
    return {"reset": episode_id}


def check_token(expected: str | None, given: Any) -> None:
    """Refuse a request whose token is not the configured one (constant-time comparison)."""
    if expected is None:
        return
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ControlError("missing or wrong control token", status=401)


async def _serve_client(stream: SocketStream, service: EpisodeService, token: str | None) -> None:
    buffered = BufferedByteReceiveStream(stream)
    async with stream:
        while True:
            try:
                with anyio.fail_after(LINE_SECONDS):
                    line = await buffered.receive_until(b"\n", _MAX_LINE)
            except TimeoutError:
                await _reply(stream, {"ok": False, "error": f"no whole request line in {LINE_SECONDS:g} s; connection closed",
                                      "status": 408})  # fmt: skip
                return
            except anyio.DelimiterNotFound:
                await _reply(stream, {"ok": False, "error": f"request line longer than {_MAX_LINE:,} bytes; connection closed",
                                      "status": 413})  # fmt: skip
                return
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ControlError('a request is a JSON object, e.g. {"op": "status"}')
                check_token(token, request.get("token"))
                reply = {"ok": True, "result": handle_request(service, request, default_episode=DEFAULT_EPISODE)}
            except ScaleenvError as exc:  # the same status and reason the HTTP control plane answers with
                reply = {"ok": False, "error": exc.reason, "status": exc.status}
            except (ValueError, RecursionError) as exc:  # not JSON
                reply = {"ok": False, "error": f"request line is not JSON: {str(exc)[:200]}", "status": 400}
            except Exception as exc:  # boundary: a bad request must never take the server down
                logger.exception("control request failed")
                reply = {"ok": False, "error": f"internal error: {type(exc).__name__}"}
            if not await _reply(stream, reply):
                return


async def _reply(stream: SocketStream, reply: dict[str, Any]) -> bool:
    """Send one reply line; False (the connection is then closed) when the client is gone or does
    not read it within :data:`LINE_SECONDS` (a client that only writes held its slot for ever)."""
    try:
        with anyio.fail_after(LINE_SECONDS):
            await stream.send(json.dumps(reply).encode() + b"\n")
    except (TimeoutError, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return False
    return True


def claim_socket_path(path: Path) -> None:
    """Make ``path`` free for a new socket without ever deleting something we did not create.

    Refused: a path too long for a Unix socket, a directory, a regular file, a symlink, and a
    socket another server still answers on. A stale socket (nobody listening) is removed.
    """
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise ControlError(f"control socket path is {len(os.fsencode(path))} bytes; Unix sockets allow {_MAX_SOCKET_PATH}")
    if not path.parent.is_dir():
        raise ControlError(f"control socket folder {path.parent} does not exist")
    if not os.path.lexists(path):
        return
    mode = path.lstat().st_mode
    if not stat.S_ISSOCK(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "a file"
        raise ControlError(f"control socket path {path} is {kind}, not a socket; choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink()  # a socket left by a server that is gone
        return
    finally:
        probe.close()
    raise ControlError(f"control socket {path} is in use by another server")


async def serve_control(
    path: str | Path,
    service: EpisodeService,
    *,
    token: str | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on a Unix socket until cancelled; the socket file is readable by its owner only and
    removed on exit (only if it is still the one this server made). With ``token``, every request
    must carry it (``"token": ...``)."""
    path = Path(path)
    claim_socket_path(path)
    old_umask = os.umask(0o177)
    try:
        listener = await anyio.create_unix_listener(path)
    except OSError as exc:
        raise ControlError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    made = path.stat().st_ino
    async with listener:
        task_status.started()

        open_connections = 0

        async def handle(stream: SocketStream) -> None:
            nonlocal open_connections
            if open_connections >= MAX_CONNECTIONS:
                async with stream:
                    await _reply(stream, {"ok": False, "error": f"{MAX_CONNECTIONS} control connections are open, the most "
                                          "this server takes; close one and try again", "status": 503})  # fmt: skip
                return
            open_connections += 1
            try:
                await _serve_client(stream, service, token)
            finally:
                open_connections -= 1

        try:
            await listener.serve(handle)
        finally:
            with contextlib.suppress(OSError):
                if path.stat().st_ino == made:
                    path.unlink()


class ControlClient:
    """The harness side: one request per connection, so a crashed server gives a clear error."""

    def __init__(self, path: str | Path, timeout: float = 30.0, token: str | None = None) -> None:
        self.path = Path(path)
        self.timeout = timeout
        # a server started from this environment requires the same token
        self.token = token if token is not None else os.environ.get("SCALEENV_CONTROL_TOKEN") or None

    async def request(self, op: str, **fields: Any) -> Any:
        try:
            with anyio.fail_after(self.timeout):
                async with await anyio.connect_unix(self.path) as stream:
                    auth = {"token": self.token} if self.token is not None else {}
                    await stream.send(json.dumps({"op": op, **fields, **auth}).encode() + b"\n")
                    line = await BufferedByteReceiveStream(stream).receive_until(b"\n", _MAX_LINE * 16)
        except (OSError, TimeoutError, anyio.EndOfStream, anyio.IncompleteRead) as exc:
            raise ControlError(f"control channel {self.path} is not answering ({type(exc).__name__}: {exc})") from None
        reply = json.loads(line)
        if not reply.get("ok"):
            status = reply.get("status")
            raise ControlError(str(reply.get("error")), status=status if isinstance(status, int) else None)
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
