"""OpenEnv: a ``ResourceSessionFactory`` whose sessions are scaleenv task episodes.

OpenEnv's harness layer (``openenv.core.harness``, openenv-core 0.3) drives a rollout through
a session: ``initial_messages``, ``list_tools``, ``call_tool``, then ``verify`` with the
transcript. The reward is the environment's own: ``verify`` grades the end state and the last
assistant message, and forwards that reward as ``env_reward`` (OpenEnv refuses to let the
orchestration layer make one up). Per-check outcomes go into the metrics and artifacts, each as
its kind and whether it passed: OpenEnv's collection writes artifacts into datasets, and a check's
wording or detail ("expected 837.07") would hand the answer to whatever trains on them.

    factory = ScaleenvSessionFactory("retail")
    session = factory.create(task="retail-004")       # or a row of `scaleenv export tasks`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openenv.core.env_server.mcp_types import Tool
from openenv.core.harness import ResourceSession, ResourceSessionFactory, ToolResult, VerifyResult

from ..tasks.grader import Verification
from .task_episode import TaskEpisode, final_answer

__all__ = ["ScaleenvSession", "ScaleenvSessionFactory"]


class ScaleenvSession(ResourceSession):
    """One rollout on one task; the state is this session's alone."""

    def __init__(self, episode: TaskEpisode, episode_id: str | None = None) -> None:
        self._episode = episode
        self.episode_id = episode_id or episode.episode.id
        self.verification: Verification | None = None

    def initial_messages(self) -> list[dict[str, Any]]:
        return self._episode.messages()

    def list_tools(self) -> list[Tool]:
        return [
            Tool(name=t["function"]["name"], description=t["function"]["description"], input_schema=t["function"]["parameters"])
            for t in self._episode.tools
        ]

    def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        result = self._episode.call(name, arguments)
        text = self._episode.text(result)
        if isinstance(result, str) or not result.ok:
            return ToolResult(data=text, error=text)
        return ToolResult(data=result.data)

    def verify(self, transcript: list[dict[str, Any]], final_state: Any | None = None) -> VerifyResult:
        verdict = self._episode.verify(final_answer(transcript))
        self.verification = verdict
        return VerifyResult(
            env_reward=verdict.reward,
            done=True,
            metrics={"success": verdict.success, "reward_mode": verdict.mode, **{f"reward_{k}": v for k, v in verdict.rewards.items()}},
            artifacts={
                "checks": [{"kind": c.kind, "passed": c.passed} for c in verdict.checks],
                "policy_violations": list(verdict.policy_violations),
                "task_id": self._episode.task.id,
            },
        )

    def close(self) -> None:
        self._episode.close()


class ScaleenvSessionFactory(ResourceSessionFactory):
    """Sessions on one domain's stored tasks. The task fixes the initial state, so ``seed`` is
    accepted for the interface and must match the task's own seed when given."""

    def __init__(self, domain: str, *, root: str | Path | None = None) -> None:
        self.domain = domain
        self.root = root

    def create(self, task: Any, seed: int | None = None, episode_id: str | None = None) -> ScaleenvSession:
        episode = TaskEpisode(self.domain, task, root=self.root)
        own = episode.task.initial_state.get("seed")
        if seed is not None and own is not None and seed != own:
            episode.close()
            raise ValueError(f"task {episode.task.id} starts from seed {own}; seed {seed} would be another task")
        return ScaleenvSession(episode, episode_id)
