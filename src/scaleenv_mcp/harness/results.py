"""Episode records (JSONL), resumable runs, and the metrics: pass@1, pass^k, mean reward.

Each record is appended and fsynced as soon as its episode ends, after its trajectory
file is written, so a killed run loses nothing it already reported and ``--resume``
skips exactly the finished episodes. Infrastructure faults are kept in the file but
excluded from the metrics, and re-run on resume. One results folder holds one agent's
runs: mixing agents in one file would make its metrics meaningless, so it is refused.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from math import comb
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CheckOutcome",
    "EpisodeRecord",
    "EvalReport",
    "InfraFault",
    "Metrics",
    "ResultStore",
    "episode_key",
    "latest_records",
    "pass_hat_k",
    "summarize",
]


class InfraFault(BaseModel):
    """Not the agent's fault: a crashed server, an LLM API error after retries, a timeout."""

    kind: str
    message: str


class CheckOutcome(BaseModel):
    description: str
    passed: bool
    detail: str = ""


class EpisodeRecord(BaseModel):
    """One line of ``results.jsonl``: one episode of one task by one agent."""

    model_config = ConfigDict(extra="allow")

    domain: str
    task_id: str
    trial: int
    agent: str
    user_sim: str | None = None
    reward: float = 0.0
    success: bool = False
    checks: list[CheckOutcome] = []
    steps: int = 0
    tokens: dict[str, int] = Field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost: float | None = None
    wall_time: float = 0.0
    termination: str = "infra_error"
    """a :data:`~.loop.Termination` (a plain string here, so records written by other versions still load)"""
    infra_error: InfraFault | None = None
    trajectory: str = ""


def episode_key(record: EpisodeRecord) -> tuple[str, str, str, int]:
    return (record.domain, record.task_id, record.agent, record.trial)


def latest_records(results: Path) -> dict[tuple[str, str, str, int], EpisodeRecord]:
    """A ``results.jsonl``'s episodes, the last line of each counting (a resumed episode is written
    again); ``ValueError`` names the first line that is not an episode record."""
    latest: dict[tuple[str, str, str, int], EpisodeRecord] = {}
    for number, line in enumerate(results.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = EpisodeRecord.model_validate_json(line)
        except ValueError:
            raise ValueError(f"{results}:{number}: not an episode record") from None
        latest[episode_key(record)] = record
    return latest


class ResultStore:
    """``results.jsonl`` in a run folder: append-only, fsynced, resumable, one agent per folder."""

    def __init__(self, out: Path, *, resume: bool, agent: str | None = None) -> None:
        self.out = out
        self.path = out / "results.jsonl"
        out.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size and not resume:
            raise FileExistsError(f"{self.path} already has results; pass --resume to continue it, or another --out")
        self._repair_partial_line()
        self._records: dict[tuple[str, str, str, int], EpisodeRecord] = {}
        for record in self._read():
            self._records[episode_key(record)] = record
        others = sorted({r.agent for r in self._records.values()} - {agent}) if agent is not None else []
        if others:
            raise FileExistsError(
                f"{self.path} holds results of another agent ({', '.join(others)}); use another --out for {agent}"
            )

    def _repair_partial_line(self) -> None:
        """A run killed mid-write can leave half a line; drop it so the next append starts clean."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def _read(self) -> list[EpisodeRecord]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(EpisodeRecord.model_validate_json(line))
            except ValueError:
                continue
        return out

    def finished(self, key: tuple[str, str, str, int]) -> bool:
        record = self._records.get(key)
        return record is not None and record.infra_error is None

    def append(self, record: EpisodeRecord) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._records[episode_key(record)] = record

    def records(self) -> list[EpisodeRecord]:
        """The latest record of every episode."""
        return sorted(self._records.values(), key=episode_key)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that k trials drawn from n (c successful) all succeed: C(c,k)/C(n,k)."""
    return comb(c, k) / comb(n, k) if n >= k else float("nan")


class Metrics(BaseModel):
    """pass@1, pass^k and mean reward over episodes; infrastructure faults counted, not scored."""

    episodes: int
    infra_faults: int
    tasks: int
    mean_reward: float | None
    pass_at_1: float | None
    pass_hat: dict[int, float | None]
    """k -> pass^k, averaged over the tasks with at least k valid trials"""
    pass_hat_tasks: dict[int, int]
    """k -> how many tasks had at least k valid trials"""

    def flat(self) -> dict[str, Any]:
        """The JSON shape of ``summary.json`` (``pass@1``, ``pass^2``, ``pass^2_tasks``, ...)."""
        out: dict[str, Any] = {
            "episodes": self.episodes,
            "infra_faults": self.infra_faults,
            "tasks": self.tasks,
            "mean_reward": self.mean_reward,
            "pass@1": self.pass_at_1,
        }
        for k, value in self.pass_hat.items():
            out[f"pass^{k}"] = value
            out[f"pass^{k}_tasks"] = self.pass_hat_tasks[k]
        return out


def _metrics(records: list[EpisodeRecord], k_max: int) -> Metrics:
    valid = [r for r in records if r.infra_error is None]
    per_task: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in valid:
        per_task[(r.domain, r.task_id)].append(r.success)
    pass_hat: dict[int, float | None] = {}
    pass_hat_tasks: dict[int, int] = {}
    for k in range(1, k_max + 1):
        scores = [pass_hat_k(len(v), sum(v), k) for v in per_task.values() if len(v) >= k]
        pass_hat[k] = round(sum(scores) / len(scores), 4) if scores else None
        pass_hat_tasks[k] = len(scores)
    return Metrics(
        episodes=len(records),
        infra_faults=len(records) - len(valid),
        tasks=len(per_task),
        mean_reward=round(sum(r.reward for r in valid) / len(valid), 4) if valid else None,
        pass_at_1=round(sum(sum(v) / len(v) for v in per_task.values()) / len(per_task), 4) if per_task else None,
        pass_hat=pass_hat,
        pass_hat_tasks=pass_hat_tasks,
    )


class FaultRecord(InfraFault):
    domain: str
    task_id: str
    trial: int


class EvalReport(BaseModel):
    """What an evaluation run measured: who ran, with which options, per domain and overall."""

    agent: str
    model: str | None = None
    options: dict[str, Any] = {}
    domains: dict[str, Metrics]
    overall: Metrics
    infra_faults: list[FaultRecord]
    records: list[EpisodeRecord] = []

    @property
    def all_infra_faults(self) -> bool:
        """Every episode was an infrastructure fault: nothing about the agent was measured."""
        return self.overall.episodes > 0 and self.overall.infra_faults == self.overall.episodes

    def summary_json(self) -> dict[str, Any]:
        """``summary.json``: the run's agent, model and options, then the metrics."""
        return {
            "agent": self.agent,
            "model": self.model,
            "options": self.options,
            "domains": {name: m.flat() for name, m in self.domains.items()},
            "overall": self.overall.flat(),
            "infra_faults": [f.model_dump(mode="json") for f in self.infra_faults],
        }


def summarize(
    records: list[EpisodeRecord],
    k_max: int = 1,
    *,
    agent: str = "",
    model: str | None = None,
    options: dict[str, Any] | None = None,
) -> EvalReport:
    """Per domain and overall; infrastructure faults are counted but excluded."""
    domains = sorted({r.domain for r in records})
    return EvalReport(
        agent=agent,
        model=model,
        options=dict(options or {}),
        domains={d: _metrics([r for r in records if r.domain == d], k_max) for d in domains},
        overall=_metrics(records, k_max),
        infra_faults=[
            FaultRecord(domain=r.domain, task_id=r.task_id, trial=r.trial, kind=r.infra_error.kind, message=r.infra_error.message)
            for r in records
            if r.infra_error is not None
        ],
        records=records,
    )
