"""A NeMo Gym rollout survives a restart under ``--state-dir``: its cookie opens the same episode,
which goes on from where it was and is verified on what it did before and after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.episodes.store import EpisodeStore
from scaleenv_mcp.serving.gym import COOKIE, gym_routes
from scaleenv_mcp.serving.http import http_app
from scaleenv_mcp.serving.server import build_server
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec


@asynccontextmanager
async def gym(folder: Path) -> AsyncIterator[tuple[httpx.AsyncClient, EpisodeService]]:
    spec = shipped_spec("retail")
    service = EpisodeService(Coordinator(spec, load_domain_tasks(PATHS, "retail")), store=EpisodeStore(folder, exclusive=False))  # a restart after a kill
    service.reload()
    server = build_server(spec, service=service, reap_every=None)
    asgi = http_app(server, service, control_token="t" * 24, extra_routes=gym_routes(service, None, set(spec.tools)))
    starlette = asgi.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=asgi)
    async with starlette.router.lifespan_context(starlette), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http, service


async def test_a_rollout_goes_on_after_a_restart(tmp_path: Path) -> None:
    task = next(  # graded on the state alone: the steps before the restart count as much as those after
        t for t in load_domain_tasks(PATHS, "retail") if len(t.solution) >= 2 and all(c.kind in ("row_exists", "row_absent", "field_equals", "field_changed_by", "no_other_changes") for c in t.checks)
    )
    async with gym(tmp_path) as (http, _):
        seeded = await http.post("/seed_session", json={"task_id": task.id})
        cookie = {COOKIE: seeded.cookies[COOKIE]}
        first = task.solution[0]
        assert (await http.post(f"/{first.tool}", json=first.arguments, cookies=cookie)).status_code == 200
    async with gym(tmp_path) as (http, service):  # a new process on the same folder
        assert len(service.handles) == 1
        for step in task.solution[1:]:
            assert (await http.post(f"/{step.tool}", json=step.arguments, cookies=cookie)).status_code == 200
        verdict = (await http.post("/verify", json={"response": {"output": []}}, cookies=cookie)).json()
        assert verdict["checks_passed"] == verdict["checks_total"] >= 1 and verdict["reward"] == 1.0
        episode = next(iter(service.coordinator.episodes.values()), None)
        assert episode is None  # verify ended it
