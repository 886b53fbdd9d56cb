"""The server's three named modes (:class:`ServerPlan`), driven through the official MCP client in
memory: per connection each client has its own episode; shared, clients without a handle share the
service's; bound, requests act on the one episode a harness made. ``build_server`` picks the same
mode from its options."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from scaleenv_mcp.episodes.control import DEFAULT_EPISODE
from scaleenv_mcp.episodes.coordinator import Coordinator, EpisodeError
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.serving.server import ServerMode, ServerPlan, build_server
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec
from .test_server import write_scenario

SPEC = shipped_spec("retail")
WRITE, ARGS, READ, ROW = write_scenario(SPEC)


def tasks() -> list[Any]:
    return load_domain_tasks(PATHS, "retail")


async def write_then_read(plan: ServerPlan) -> tuple[list[Any], list[Any]]:
    """Write through one client, then read through a second one on the same server: (first's reads, second's)."""
    server = plan.build()
    id_param = next(iter(SPEC.tools[READ].params))
    async with Client(server) as first:
        before = (await first.call_tool(READ, {id_param: ROW})).structured_content
        assert not (await first.call_tool(WRITE, ARGS)).is_error
        after = (await first.call_tool(READ, {id_param: ROW})).structured_content
    async with Client(server) as second:
        seen = (await second.call_tool(READ, {id_param: ROW})).structured_content
    assert before != after
    return [before, after], [seen]


async def test_per_connection_each_client_starts_from_the_initial_state() -> None:
    plan = ServerPlan.per_connection(SPEC)
    assert plan.mode is ServerMode.PER_CONNECTION
    (before, _), (seen,) = await write_then_read(plan)
    assert seen == before


async def test_per_connection_with_a_task_offers_its_prompt() -> None:
    task = tasks()[0]
    async with Client(ServerPlan.per_connection(SPEC, tasks=tasks(), task_id=task.id).build()) as client:
        prompt = await client.get_prompt("task")
        assert prompt.messages[0].content.text in (task.opening, task.instruction)  # type: ignore[union-attr]


async def test_shared_clients_without_a_handle_act_on_the_services_episode_and_it_outlives_them() -> None:
    service = EpisodeService(Coordinator(SPEC, tasks()))
    plan = ServerPlan.shared(service, reap_every=None)
    assert plan.mode is ServerMode.SHARED
    (_, after), (seen,) = await write_then_read(plan)
    assert seen == after and DEFAULT_EPISODE in service.handles  # the service, not a connection, owns it
    service.close()


async def test_bound_requests_act_on_the_harness_episode_only() -> None:
    service = EpisodeService(Coordinator(SPEC, tasks()))
    mine, other = service.create(), service.create()
    plan = ServerPlan.bound_episode(service, mine.episode)
    assert plan.mode is ServerMode.BOUND_EPISODE
    (_, after), (seen,) = await write_then_read(plan)
    assert seen == after
    assert [c.tool for c in service.coordinator.episode(mine.episode).calls] == [READ, WRITE, READ, READ]
    assert service.coordinator.episode(other.episode).calls == []
    service.close()


def test_a_plan_is_refused_before_anything_serves() -> None:
    service = EpisodeService(Coordinator(SPEC, tasks()))
    with pytest.raises(EpisodeError, match="episode 'ep-nobody' not found") as unknown:
        ServerPlan.bound_episode(service, "ep-nobody")
    assert unknown.value.status == 404
    with pytest.raises(EpisodeError, match="unknown task 'retail-nope'"):
        ServerPlan.shared(service, task_id="retail-nope")
    with pytest.raises(ValueError, match="a shared service has its control plane"):
        build_server(SPEC, service=service, control_path="/tmp/never.sock")
    service.close()


async def test_build_server_picks_the_mode_its_options_name() -> None:
    """The wrapper the generated ``servers/<domain>`` packages call behaves as the named mode."""
    (before, _), (seen,) = await write_then_read(_Wrapped(build_server, SPEC))  # type: ignore[arg-type]
    assert seen == before
    service = EpisodeService(Coordinator(SPEC, tasks()))
    handle = service.create()
    await write_then_read(_Wrapped(build_server, SPEC, service=service, episode=handle.episode, reap_every=None))  # type: ignore[arg-type]
    assert len(service.coordinator.episode(handle.episode).calls) == 4
    service.close()


class _Wrapped:
    """Something with ``build()``, made by ``build_server`` (so :func:`write_then_read` drives it too)."""

    def __init__(self, make: Any, *args: Any, **kwargs: Any) -> None:
        self.make, self.args, self.kwargs = make, args, kwargs

    def build(self) -> Any:
        return self.make(*self.args, **self.kwargs)
