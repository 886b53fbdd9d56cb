"""The NeMo Gym resources-server protocol on the HTTP server (``serve --http --nemo-gym``).

NeMo Gym's agent servers and verifiers' ``nemo_gym`` taskset drive a resources server in three
steps, all carrying the rollout's session cookie:

- ``POST /seed_session`` with the dataset row (``responses_create_params`` plus our ``task_id``):
  a new episode on that task. The reply also names the episode's MCP endpoint
  (``{"mcp": {"url_path", "headers"}}``), which verifiers uses for the tools.
- ``POST /<tool>`` with the arguments: the tool on that episode; 200 with the result, 400 with
  the error, each as the text the agent reads over MCP.
- ``POST /verify`` with the row and the Responses-API ``response``: the end state and the last
  assistant message graded; the reply is the request with ``reward`` and its components
  (``success``, every reward mode, checks passed) as numbers, and the episode ends.

Beyond loopback these routes need ``Authorization: Bearer <control token>`` like the control plane
(both NeMo Gym and verifiers can send headers); the model under test never reaches them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..episodes.control import ControlError, check_token
from ..episodes.coordinator import EpisodeError
from ..episodes.service import EpisodeService, TooManyEpisodes
from .http import _bearer, _json_body
from .server import tool_result, tool_text

__all__ = ["COOKIE", "gym_routes", "responses_answer"]

COOKIE = "scaleenv_gym"
_RESERVED = {"seed_session", "verify", "mcp", "control", "episodes"}


def responses_answer(response: Any) -> str | None:
    """The final reply in a Responses-API object: the last assistant message's output text."""
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        return None
    for item in reversed(output):
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role", "assistant") == "assistant":
            parts = item.get("content")
            if isinstance(parts, str):
                return parts
            if isinstance(parts, list):
                return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    return None


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message[:500]}, status_code=status)


def gym_routes(service: EpisodeService, token: str | None, tools: set[str]) -> list[Route]:
    """The three NeMo Gym routes; ``token`` is required when not None (a server beyond loopback)."""
    clashes = tools & _RESERVED
    if clashes:
        raise ValueError(f"tools {sorted(clashes)} clash with the NeMo Gym routes")

    def authorize(request: Request) -> None:
        if token is not None:
            check_token(token, _bearer(request))

    def episode_of(request: Request) -> str:
        episode = service.resolve(request.cookies.get(COOKIE, ""))
        if episode is None:
            raise ControlError("no session: POST /seed_session first (and send back its cookie)", status=400)
        return episode

    async def seed_session(request: Request) -> Response:
        try:
            authorize(request)
            row = await _json_body(request)
            task = row.get("task_id")
            if not isinstance(task, str):
                raise ControlError("the row has no 'task_id' (rows come from `scaleenv export tasks --to nemo-gym`)", status=400)
            handle = service.create(task=task, creator="nemo-gym")
        except ControlError as exc:
            return _error(str(exc), exc.status)
        except TooManyEpisodes as exc:
            return _error(str(exc), 429)
        except EpisodeError as exc:
            return _error(str(exc), 404)
        reply = JSONResponse({"mcp": {"url_path": f"/episodes/{handle.token}/mcp", "headers": {}}})
        reply.set_cookie(COOKIE, handle.token, httponly=True, samesite="strict")
        return reply

    async def call(request: Request) -> Response:
        name = request.path_params["tool"]
        try:
            authorize(request)
            episode = episode_of(request)
            arguments = await _json_body(request)
        except ControlError as exc:
            return _error(str(exc), exc.status)
        if name not in tools:
            return _error(f"unknown tool {name[:60]!r}", 404)
        result = tool_result(service.call(episode, name, arguments))
        return Response(tool_text(result), status_code=400 if result.is_error else 200, media_type="text/plain")

    async def verify(request: Request) -> Response:
        try:
            authorize(request)
            episode = episode_of(request)
            body = await _json_body(request)
        except ControlError as exc:
            return _error(str(exc), exc.status)
        verdict = service.coordinator.verify(episode, responses_answer(body.get("response")))
        service.delete(episode)
        passed = sum(1 for c in verdict.checks if c.passed)
        reply = {
            **body,
            "reward": verdict.reward,
            "success": float(verdict.success),
            **{f"reward_{mode}": value for mode, value in verdict.rewards.items()},
            "checks_passed": float(passed),
            "checks_total": float(len(verdict.checks)),
            "policy_violations": float(len(verdict.policy_violations)),
            "checks": [c.model_dump(mode="json") for c in verdict.checks],
        }
        response = JSONResponse(reply)
        response.delete_cookie(COOKIE)
        return response

    return [
        Route("/seed_session", seed_session, methods=["POST"]),
        Route("/verify", verify, methods=["POST"]),
        Route("/{tool}", call, methods=["POST"]),
    ]
