"""The NeMo Gym resources-server protocol on the HTTP server (``serve --http --nemo-gym``).

NeMo Gym's agent servers and verifiers' ``nemo_gym`` taskset drive a resources server in three
steps, all carrying the rollout's session cookie:

- ``POST /seed_session`` with the dataset row (``responses_create_params`` plus our ``task_id``):
  a new episode on that task. The reply also names the episode's MCP endpoint the way NeMo Gym's
  ``MCPServerMetadata`` does (``{"mcp": {"server_name", "url_path", "transport", "headers"}}``;
  ``server_name`` is the MCP server's name, which MCP clients put in ``mcp__<server>__<tool>``),
  which verifiers uses for the tools.
- ``POST /<tool>`` with the arguments: the tool on that episode; 200 with the result, 400 with
  the error, each as the text the agent reads over MCP.
- ``POST /verify`` with the row and the Responses-API ``response``: the end state and the last
  assistant message graded; the reply is the request with ``reward`` and its components
  (``success``, every reward mode, checks passed) as numbers, and the episode ends. Each check
  appears only as its kind and whether it passed: NeMo Gym writes verify replies into its rollout
  files, and a check's wording or detail would put the expected answer into a training set.

And once per batch, with no session: ``POST /aggregate_metrics`` with ``{"verify_responses": [...]}``
(what ``/verify`` returned, with NeMo Gym's ``_ng_task_index``/``_ng_rollout_index``) answers
``{"group_level_metrics", "agent_metrics", "key_metrics"}`` (see :func:`aggregate_metrics`).

A rollout that dies before ``/verify`` (an agent crash, a cancelled batch) would otherwise hold its
episode until the server's idle expiry (15 minutes by default); its episode is ended
``grace_seconds`` (``--gym-grace-seconds``, 120 s) after its last call instead.

Beyond loopback these routes need ``Authorization: Bearer <control token>`` like the control plane
(both NeMo Gym and verifiers can send headers); the model under test never reaches them.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..episodes.control import ControlError, check_token
from ..episodes.coordinator import EpisodeError
from ..episodes.service import EpisodeService
from ..errors import MAX_REASON, ScaleenvError
from .http import _bearer, _json_body
from .tool_results import tool_result, tool_text

__all__ = ["COOKIE", "GRACE_SECONDS", "MAX_FIELDS", "MAX_PASS_K", "aggregate_metrics", "gym_routes", "responses_answer"]

COOKIE = "scaleenv_gym"
CREATOR = "nemo-gym"
GRACE_SECONDS = 120.0
"""How long a NeMo Gym episode outlives its last call when ``/verify`` never comes (``--gym-grace-seconds``)."""
TASK_INDEX = "_ng_task_index"
ROLLOUT_INDEX = "_ng_rollout_index"
_RESERVED = {"seed_session", "verify", "aggregate_metrics", "close_session", "mcp", "control", "episodes"}
_STATS = ("mean", "max", "min", "median", "std")
_HEADLINE = ("reward", "success")
MAX_PASS_K = 100
"""the largest k of pass@k and pass^k reported: a training batch has a handful of rollouts per task"""
MAX_FIELDS = 256
"""numeric fields summarized per group (a verify reply has about 15)"""


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


def _numbers(reply: Mapping[str, Any]) -> dict[str, float]:
    """The numeric fields of one verify reply (booleans as 0/1), plus the response's token usage,
    as NeMo Gym's ``RewardProfiler`` picks them; the indices are keys, not measurements."""
    usage = reply.get("response", {}).get("usage") if isinstance(reply.get("response"), Mapping) else None
    fields = {**(usage if isinstance(usage, Mapping) else {}), **reply}
    out = {}
    for k, v in fields.items():
        if k in (TASK_INDEX, ROLLOUT_INDEX) or not isinstance(v, int | float):
            continue
        try:
            number = float(v)
        except OverflowError:  # an integer past a float's range: not a measurement either
            continue
        if math.isfinite(number):
            out[k] = number
    return out


def _describe(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """``mean/<field>``, ``max/...``, ``min/...``, ``median/...``, ``std/...`` over the rows that have each
    field (the sample deviation, 0 for a single value, as NeMo Gym reports it), for the first
    :data:`MAX_FIELDS` fields by name. The rows are read once: scanning them again per field made a
    batch whose every reply had a field of its own cost the square of its size (30,000: 58 s)."""
    by_field: dict[str, list[float]] = {}
    for row in rows:
        for field, value in row.items():
            by_field.setdefault(field, []).append(value)
    out: dict[str, float] = {}
    headline = [f for f in _HEADLINE if f in by_field]  # never crowded out by a batch of odd fields
    for field in sorted(headline + sorted(f for f in by_field if f not in headline)[: MAX_FIELDS - len(headline)]):
        values = by_field[field]
        summary: dict[str, float] | None
        try:
            summary = {
                "mean": statistics.fmean(values), "max": max(values), "min": min(values), "median": statistics.median(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            }  # fmt: skip
        except OverflowError:
            summary = None
        if summary is None or not all(math.isfinite(v) for v in summary.values()):  # too large to average (1e308 twice)
            if field in _HEADLINE:
                raise OverflowError(field)  # the reward itself: the batch is refused, never summed without it
            continue  # another field: left out, the headline stays
        out.update({f"{stat}/{field}": value for stat, value in summary.items()})
    return out


def aggregate_metrics(verify_responses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """NeMo Gym's ``POST /aggregate_metrics`` answer for a batch of verify replies.

    The shape is NeMo Gym's ``AggregateMetrics`` (``nemo_gym/config_types.py``), computed as its
    ``compute_aggregate_metrics`` (``nemo_gym/reward_profile.py``) does with the default profiler:
    ``group_level_metrics`` has one entry per ``_ng_task_index`` with ``mean/max/min/median/std`` of
    every numeric field and the rollout count, ``agent_metrics`` the same over all rollouts, and
    ``key_metrics`` the headline subset. Ours adds, like a server's ``compute_metrics`` override,
    ``pass@k/success`` (some of a task's first k rollouts succeeded, averaged over tasks, in percent
    as NeMo Gym reports pass@k) and ``pass^k/success`` (all of them did: the reliability scaleenv
    eval reports), for k up to the fewest rollouts any task has (at most :data:`MAX_PASS_K`). Flat
    keys, for W&B or MLflow. The cost follows the number of replies: each task's rollouts are put in
    order once, and every k read from where the first success and the first failure fall.

    :class:`OverflowError` when the numbers are too large to average."""
    if not verify_responses:
        return {"group_level_metrics": [], "agent_metrics": {}, "key_metrics": {}}
    by_task: dict[int, list[Mapping[str, Any]]] = {}
    for reply in verify_responses:
        by_task.setdefault(_index(reply.get(TASK_INDEX, 0)), []).append(reply)
    ordered = {index: sorted(by_task[index], key=_rollout_index) for index in sorted(by_task)}  # each task's rollouts, once
    groups = [{TASK_INDEX: index, **_describe([_numbers(r) for r in replies]), "num_rollouts": len(replies)} for index, replies in ordered.items()]
    agent: dict[str, Any] = _describe([_numbers(r) for r in verify_responses])
    graded = any("success" in reply for reply in verify_responses)  # no success reported at all: no pass@k to report
    k_max = min(MAX_PASS_K, *(len(replies) for replies in ordered.values())) if graded else 0
    first_success, first_failure = [], []  # per task: the place of its first success and first failure in rollout order
    for replies in ordered.values():
        wins = [_succeeded(r) for r in replies]
        first_success.append(wins.index(True) if True in wins else len(wins))
        first_failure.append(wins.index(False) if False in wins else len(wins))
    for k in range(1, k_max + 1):
        agent[f"pass@{k}/success"] = 100.0 * statistics.fmean(place < k for place in first_success)
        agent[f"pass^{k}/success"] = 100.0 * statistics.fmean(place >= k for place in first_failure)
    key = {k: v for k, v in agent.items() if k.split("/")[0] == "mean" and k.split("/", 1)[1] in _HEADLINE}
    key.update({k: v for k, v in agent.items() if k.startswith(("pass@", "pass^"))})
    return {"group_level_metrics": groups, "agent_metrics": agent, "key_metrics": key}


def _succeeded(reply: Mapping[str, Any]) -> bool:
    """A success as ``/verify`` reports it (1.0), or true; not the text "false", not a partial 0.5."""
    value = reply.get("success")
    return value is True or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 1)


def _rollout_index(reply: Mapping[str, Any]) -> int:
    return _index(reply.get(ROLLOUT_INDEX, 0))


def _index(value: Any) -> int:
    """An index NeMo Gym gave, else 0 (``true`` is not 1 here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message[:MAX_REASON]}, status_code=status)


_UNSENDABLE = "the reply would echo text that is not valid Unicode (a lone surrogate), a number JSON cannot carry, or nesting too deep to write"


def _refused(exc: ScaleenvError) -> JSONResponse:
    """A refusal as NeMo Gym gets it: the error's own status and one-line reason, as on the control plane."""
    return _error(exc.reason, exc.status)


class _Rollouts:
    """The episodes NeMo Gym seeded, ended ``grace`` seconds after their last call if ``/verify`` never
    came. Swept on every NeMo Gym request and by a background task while any are live (the server's
    own reaper only knows the idle expiry, which is much longer)."""

    def __init__(self, service: EpisodeService, grace: float) -> None:
        if not 0 < grace < math.inf:
            raise ValueError(f"the NeMo Gym grace must be a positive number of seconds, not {grace}")
        self.service = service
        self.grace = grace
        self.live: set[str] = set()
        self.ended_by_grace = 0
        self._sweeper: asyncio.Task[None] | None = None

    def add(self, episode: str) -> None:
        self.live.add(episode)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def end(self, episode: str) -> None:
        self.live.discard(episode)
        if episode in self.service.handles:
            self.service.end(episode)

    def sweep(self) -> list[str]:
        """End the rollouts idle longer than the grace; returns their episode ids."""
        cutoff = self.service.clock() - self.grace
        gone = [e for e in self.live if e not in self.service.handles]  # ended elsewhere (control plane, idle reaper)
        self.live.difference_update(gone)
        stale = [e for e in self.live if self.service.handles[e].last_used < cutoff]
        for episode in stale:
            self.end(episode)
        self.ended_by_grace += len(stale)
        return stale

    async def _sweep_forever(self) -> None:
        while self.live:
            await asyncio.sleep(min(5.0, self.grace / 4))
            self.sweep()


def gym_routes(service: EpisodeService, token: str | None, tools: set[str], *, grace_seconds: float = GRACE_SECONDS) -> list[Route]:
    """The NeMo Gym routes; ``token`` is required when not None (a server beyond loopback)."""
    clashes = tools & _RESERVED
    if clashes:
        raise ValueError(f"tools {sorted(clashes)} clash with the NeMo Gym routes")
    rollouts = _Rollouts(service, grace_seconds)
    server_name = service.coordinator.spec.name  # the MCP server's own name (build_server names it so)

    def authorize(request: Request) -> None:
        if token is not None:
            check_token(token, _bearer(request))
        rollouts.sweep()

    def episode_of(request: Request) -> str:
        episode = service.resolve(request.cookies.get(COOKIE, ""))
        if episode is None:
            raise ControlError("no session: POST /seed_session first (and send back its cookie)")
        return episode

    async def seed_session(request: Request) -> Response:
        try:
            authorize(request)
            row = await _json_body(request)
            task = row.get("task_id")
            if task is None:
                raise ControlError("the row has no 'task_id' (rows come from `scaleenv export tasks --to nemo-gym`)")
            handle = service.create(task=task, creator=CREATOR)  # the control plane's check of a create
        except ScaleenvError as exc:
            return _refused(exc)
        rollouts.add(handle.episode)
        mcp = {"server_name": server_name, "url_path": f"/episodes/{handle.token}/mcp", "transport": "http", "headers": {}}
        reply = JSONResponse({"mcp": mcp})
        reply.set_cookie(COOKIE, handle.token, httponly=True, samesite="strict")
        return reply

    async def call(request: Request) -> Response:
        name = request.path_params["tool"]
        try:
            authorize(request)
            episode = episode_of(request)
            arguments = await _json_body(request)
            if name not in tools:
                raise EpisodeError(f"unknown tool {name[:60]!r}")
            result = tool_result(service.call(episode, name, arguments))
        except ScaleenvError as exc:
            return _refused(exc)
        return Response(tool_text(result), status_code=400 if result.is_error else 200, media_type="text/plain")

    async def verify(request: Request) -> Response:
        try:
            authorize(request)
            episode = episode_of(request)
            body = await _json_body(request)
            verdict = service.coordinator.verify(episode, responses_answer(body.get("response")))
        except ScaleenvError as exc:
            return _refused(exc)
        passed = sum(1 for c in verdict.checks if c.passed)
        reply = {
            **body,
            "reward": verdict.reward,
            "success": float(verdict.success),
            **{f"reward_{mode}": value for mode, value in verdict.rewards.items()},
            "checks_passed": float(passed),
            "checks_total": float(len(verdict.checks)),
            "policy_violations": float(len(verdict.policy_violations)),
            "checks": [{"kind": c.kind, "passed": c.passed} for c in verdict.checks],
        }
        try:  # encoded before the episode ends: a reply that cannot be sent must not lose the grade
            response = JSONResponse(reply)
        except (ValueError, RecursionError):  # RecursionError: a body nested past what json writes
            return _error(_UNSENDABLE + "; the episode was not ended", 400)
        rollouts.end(episode)
        response.delete_cookie(COOKIE)
        return response

    async def aggregate(request: Request) -> Response:
        try:
            authorize(request)
            body = await _json_body(request)
        except ScaleenvError as exc:
            return _refused(exc)
        replies = body.get("verify_responses")
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            return _error("the body is {\"verify_responses\": [...]}: a list of what /verify returned", 400)
        try:  # a batch costs up to half a second (15,000 replies): off the event loop, other rollouts go on
            return JSONResponse(await anyio.to_thread.run_sync(aggregate_metrics, replies))
        except OverflowError:
            return _error("the verify responses hold numbers too large to average", 400)
        except (ValueError, RecursionError):
            return _error(_UNSENDABLE, 400)

    return [
        Route("/seed_session", seed_session, methods=["POST"]),
        Route("/verify", verify, methods=["POST"]),
        Route("/aggregate_metrics", aggregate, methods=["POST"]),
        Route("/{tool}", call, methods=["POST"]),
    ]
