"""A request for a new episode is checked once, by :meth:`Coordinator.request`, whichever way it
comes: the same bad request gets the same status and the same one-line reason from the HTTP control
plane, the stdio control socket, the NeMo Gym routes, an MCP server given a task, and the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.episodes.control import ControlError
from scaleenv_mcp.errors import ScaleenvError
from scaleenv_mcp.serving.server import build_server

from ..conftest import shipped_spec
from .test_errors import serving

TASK = "retail-001"

BAD: list[tuple[dict[str, Any], int, str]] = [
    # the create request's fields, status, reason
    ({"task": "retail-nope"}, 404, "unknown task 'retail-nope' in retail; e.g. "),
    ({"task": TASK, "seed": 4}, 400, "a task fixes its initial state; 'seed' is for free play (leave out 'task')"),
    ({"task": 7}, 400, "'task' must be a name of 1-64 letters, digits or _.:- (got a int)"),
    ({"task": "x" * 65}, 400, "'task' must be a name of 1-64 letters, digits or _.:- (got a str)"),
    ({"seed": -1}, 400, "'seed' must be a whole number from 0 to 2**63-1 (got '-1')"),
    ({"seed": True}, 400, "'seed' must be a whole number from 0 to 2**63-1 (got 'True')"),
    ({"answer_channel": "smoke"}, 400, "'answer_channel' must be one of typed, prose (got 'smoke')"),
    ({"task": TASK, "answer_channel": 3}, 400, "'answer_channel' must be one of typed, prose (got '3')"),
    ({"creator": "no spaces please"}, 400, "'creator' must be a name of 1-64 letters, digits or _.:- (got a str)"),
]


def refused(call: Any) -> tuple[int, str]:
    with pytest.raises(ScaleenvError) as info:
        call()
    return info.value.status, info.value.reason


@pytest.mark.parametrize(("fields", "status", "reason"), BAD, ids=[str(b[0])[:40] for b in BAD])
async def test_a_bad_create_request_is_refused_alike_on_every_path(fields: dict[str, Any], status: int, reason: str, tmp_path: Path) -> None:
    async with serving(tmp_path) as app:
        http = await app.control("POST", "/episodes", fields)
        assert http.status_code == status and http.json()["error"].startswith(reason), http.text
        said = http.json()["error"]

        with pytest.raises(ControlError) as socket:
            await app.socket.request("create", **fields)
        assert (socket.value.status, str(socket.value)) == (status, said)

        if set(fields) == {"task"}:  # a NeMo Gym row names only its task
            gym = await app.http.post("/seed_session", json={"task_id": fields["task"]})
            assert (gym.status_code, gym.json()) == (status, {"error": said})

        if "seed" not in fields and "creator" not in fields:  # what an MCP server and the Python API can be asked
            task, channel = fields.get("task"), fields.get("answer_channel", "typed")
            spec = shipped_spec("retail")
            assert refused(lambda: build_server(spec, tasks=list(app.service.coordinator.tasks.values()), task_id=task, answer_channel=channel)) == (status, said)
            domain = se.Domain(spec, list(app.service.coordinator.tasks.values()))
            assert refused(lambda: domain.episode(task, answer_channel=channel)) == (status, said)
        assert app.service.handles == {}  # nothing was made


async def test_a_good_create_request_is_made_the_same_way_on_every_path(tmp_path: Path) -> None:
    async with serving(tmp_path) as app:
        made = (await app.control("POST", "/episodes", {"task": TASK, "answer_channel": "prose"})).json()["result"]
        over_socket = await app.socket.request("create", seed=9, creator="socket")
        gym = await app.http.post("/seed_session", json={"task_id": TASK})
        assert gym.status_code == 200
        listed = {(e["creator"], e["task"], e["seed"]) for e in app.service.listing()}
        assert listed == {("harness", TASK, None), ("socket", None, 9), ("nemo-gym", TASK, None)}
        assert app.service.coordinator.episode(made["episode"]).channel == "prose"
        free = app.service.coordinator.episode(over_socket["episode"])
        assert free.initial == app.service.coordinator.image(9) != app.service.coordinator.initial_image
