"""One root for every error, one status per error on every transport.

Each error class the package defines derives from :class:`~scaleenv_mcp.errors.ScaleenvError`
(keeping the standard base it had, so ``except ValueError`` callers still catch it) and carries the
status every transport answers it with: raised under a create, it comes out of the HTTP control
plane, the NeMo Gym routes and the stdio control socket with that status and its one-line reason.
Then the refusals a harness actually meets, provoked for real, get the same status and reason on
each path.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from scaleenv_mcp.episodes.control import ControlClient, ControlError, serve_control
from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.errors import MAX_REASON, ScaleenvError
from scaleenv_mcp.serving.gym import COOKIE, gym_routes
from scaleenv_mcp.serving.http import http_app
from scaleenv_mcp.serving.server import build_server
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, ROOT, shipped_spec

TOKEN = "t" * 24

ERRORS: list[tuple[str, str, int, type[Exception]]] = [
    # module, class, status, the standard base it kept
    ("scaleenv_mcp.spec.problems", "BlueprintError", 400, ValueError),
    ("scaleenv_mcp.spec.problems", "ProblemsFound", 400, ValueError),
    ("scaleenv_mcp.spec.expr", "ExprError", 400, ValueError),
    ("scaleenv_mcp.spec.types", "ValueProblem", 400, ValueError),
    ("scaleenv_mcp.spec.catalog", "DomainNotFound", 404, LookupError),
    ("scaleenv_mcp.engine.runtime", "_Failure", 400, Exception),
    ("scaleenv_mcp.engine.seed", "SeedError", 400, ValueError),
    ("scaleenv_mcp.tasks.distractors", "DistractorError", 400, ValueError),
    ("scaleenv_mcp.compiler.pipeline", "GateFailed", 400, RuntimeError),
    ("scaleenv_mcp.episodes.coordinator", "EpisodeError", 404, LookupError),
    ("scaleenv_mcp.episodes.coordinator", "BadEpisodeRequest", 400, ValueError),
    ("scaleenv_mcp.episodes.coordinator", "EpisodeConflict", 409, LookupError),
    ("scaleenv_mcp.episodes.coordinator", "EpisodeGone", 410, LookupError),
    ("scaleenv_mcp.episodes.coordinator", "EpisodeUnreachable", 503, LookupError),
    ("scaleenv_mcp.episodes.coordinator", "TooManyEpisodes", 429, LookupError),
    ("scaleenv_mcp.episodes.coordinator", "TooManySnapshots", 429, LookupError),
    ("scaleenv_mcp.episodes.control", "ControlError", 400, RuntimeError),
    ("scaleenv_mcp.serving.server", "ServeError", 400, Exception),
    ("scaleenv_mcp.harness.agents", "InfraError", 502, Exception),
    ("scaleenv_mcp.harness.episode", "ModelError", 502, RuntimeError),
    ("scaleenv_mcp.harness.evaluate", "EvalError", 400, ValueError),
    ("scaleenv_mcp.harness.evaluate", "_Unauthorized", 401, Exception),
    ("scaleenv_mcp.harness.distributed", "RayUnavailable", 503, RuntimeError),
    ("scaleenv_mcp.llm", "LLMError", 502, RuntimeError),
    ("scaleenv_mcp.llm", "LLMAuthError", 401, RuntimeError),
    ("scaleenv_mcp.synthesis.proposer", "SynthesisFailed", 502, RuntimeError),
    ("scaleenv_mcp.export.report", "ReportError", 400, Exception),
    ("scaleenv_mcp.export.registry", "PublishError", 400, ValueError),
    ("scaleenv_mcp.export.trajectories", "ExportError", 400, Exception),
    ("scaleenv_mcp.cli", "CliError", 400, Exception),
]


def error_class(module: str, name: str) -> type[ScaleenvError]:
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, ScaleenvError)
    return cls


def instance(cls: type[ScaleenvError]) -> ScaleenvError:
    """One of ``cls`` with a two-line message, whatever its own constructor wants."""
    exc = cls.__new__(cls)
    ScaleenvError.__init__(exc, f"{cls.__name__} refused this\nsecond line, for logs only")
    return exc


def test_no_error_class_is_left_off_the_table() -> None:
    """Every class in the source that derives from an exception is in :data:`ERRORS` (so it has a status)."""
    known = {"Exception", "ValueError", "LookupError", "KeyError", "RuntimeError", "ScaleenvError", *(name for _, name, _, _ in ERRORS)}
    found = set()
    for path in (ROOT / "src" / "scaleenv_mcp").rglob("*.py"):
        for name, bases in re.findall(r"^class (\w+)\(([^)]*)\):", path.read_text(), re.M):
            if {b.strip() for b in bases.split(",")} & known:
                found.add(name)
    assert found - {"ScaleenvError"} == {name for _, name, _, _ in ERRORS}


@pytest.mark.parametrize(("module", "name", "status", "base"), ERRORS, ids=[e[1] for e in ERRORS])
def test_every_error_has_the_root_its_status_and_its_old_base(module: str, name: str, status: int, base: type[Exception]) -> None:
    cls = error_class(module, name)
    assert issubclass(cls, base) and cls.default_status == status
    exc = instance(cls)
    assert (exc.status, exc.reason) == (status, f"{name} refused this")


@cache
def _coordinator() -> Coordinator:
    return Coordinator(shipped_spec("retail"), load_domain_tasks(PATHS, "retail"))  # seeded once for the module


@dataclass
class App:
    http: httpx.AsyncClient
    service: EpisodeService
    socket: ControlClient

    async def control(self, method: str, path: str, body: Any = None, *, token: str = TOKEN) -> httpx.Response:
        return await self.http.request(method, f"/control{path}", json=body, headers={"authorization": f"Bearer {token}"})


@asynccontextmanager
async def serving(tmp_path: Path, **limits: Any) -> AsyncIterator[App]:
    """The HTTP app (control plane and NeMo Gym routes) and a stdio control socket on one service."""
    spec = shipped_spec("retail")
    service = EpisodeService(_coordinator().fresh(), **limits)
    server = build_server(spec, service=service, reap_every=None)
    asgi = http_app(server, service, control_token=TOKEN, extra_routes=gym_routes(service, None, set(spec.tools)))
    starlette = asgi.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=asgi)
    path = tmp_path / "ctl.sock"
    async with (
        starlette.router.lifespan_context(starlette),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http,
        anyio.create_task_group() as tg,
    ):
        await tg.start(partial(serve_control, path, service))
        yield App(http, service, ControlClient(path, token=""))
        tg.cancel_scope.cancel()
    service.close()


@pytest.mark.parametrize(("module", "name", "status", "base"), ERRORS, ids=[e[1] for e in ERRORS])
async def test_each_error_raised_under_a_create_answers_its_status_and_reason_on_every_path(
    module: str, name: str, status: int, base: type[Exception], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = instance(error_class(module, name))
    reason = f"{name} refused this"

    def refuse(**_: Any) -> Any:
        raise exc

    async with serving(tmp_path) as app:
        monkeypatch.setattr(app.service, "create", refuse)
        control = await app.control("POST", "/episodes", {"task": "retail-001"})
        assert (control.status_code, control.json()) == (status, {"ok": False, "error": reason})
        gym = await app.http.post("/seed_session", json={"task_id": "retail-001"})
        assert (gym.status_code, gym.json()) == (status, {"error": reason})
        with pytest.raises(ControlError) as refused:
            await app.socket.request("create", task="retail-001")
        assert (refused.value.status, str(refused.value)) == (status, reason)


async def test_the_refusals_a_harness_meets_answer_alike_on_every_path(tmp_path: Path) -> None:
    """Real refusals, not injected ones: each gets the same status and reason from the HTTP control
    plane and the stdio socket, and the NeMo Gym routes agree where they take the same request."""
    async with serving(tmp_path, max_episodes=3) as app:
        task = next(iter(app.service.coordinator.tasks))
        free = app.service.create(seed=5).episode
        app.service.snapshot(free, "kept")
        cases: list[tuple[str, str, dict[str, Any], int, str]] = [
            # HTTP method and path, the socket's op and fields, status, the reason's start
            ("POST", "/episodes", {"task": "retail-nope"}, 404, "unknown task 'retail-nope' in retail"),
            ("POST", "/episodes", {"task": task, "seed": 4}, 400, "a task fixes its initial state"),
            ("POST", "/episodes", {"seed": -1}, 400, "'seed' must be a whole number"),
            ("POST", "/episodes", {"answer_channel": "smoke"}, 400, "'answer_channel' must be one of"),
            ("POST", f"/episodes/{free}/verify", {}, 409, f"episode '{free}' has no task to verify against"),
            ("POST", f"/episodes/{free}/restore", {"name": "never"}, 404, f"episode '{free}' has no snapshot 'never'"),
            ("POST", "/episodes/ep-nobody/diff", {}, 404, "episode 'ep-nobody' not found"),
        ]
        for method, path, body, status, start in cases:
            http = await app.control(method, path, body)
            assert http.status_code == status and http.json()["error"].startswith(start), (path, http.text)
            op = path.rsplit("/", 1)[1] if path.count("/") > 1 else "create"
            fields = {**body, **({"episode": path.split("/")[2]} if op != "create" else {})}
            with pytest.raises(ControlError) as refused:
                await app.socket.request(op, **fields)
            assert (refused.value.status, str(refused.value)) == (status, http.json()["error"]), path
            assert "\n" not in http.json()["error"] and len(http.json()["error"]) <= MAX_REASON

        unknown = await app.http.post("/seed_session", json={"task_id": "retail-nope"})
        assert (unknown.status_code, unknown.json()["error"]) == (404, (await app.control("POST", "/episodes", {"task": "retail-nope"})).json()["error"])
        for _ in range(2):
            app.service.create()
        full_http = await app.control("POST", "/episodes", {"task": task})
        full_gym = await app.http.post("/seed_session", json={"task_id": task})
        assert full_http.status_code == full_gym.status_code == 429
        assert full_http.json()["error"] == full_gym.json()["error"] and full_http.json()["error"].startswith("too many episodes")
        assert (await app.control("GET", "/episodes", token="wrong")).status_code == 401
        no_session = await app.http.post("/find_customer_by_email", json={"email": "a@b.c"}, cookies={COOKIE: "stale"})
        assert no_session.status_code == 400 and no_session.json()["error"].startswith("no session")
