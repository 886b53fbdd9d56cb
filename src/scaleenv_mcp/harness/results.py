"""Episode records (JSONL), resumable runs, and the metrics: pass@1, pass^k, mean reward.

Each record is appended and fsynced as soon as its episode ends, after its trajectory
file is written, so a killed run loses nothing it already reported and ``--resume``
skips exactly the finished episodes. Infrastructure faults are kept in the file but
excluded from the metrics, and re-run on resume.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from math import comb
from pathlib import Path
from typing import Any

__all__ = ["ResultStore", "episode_key", "pass_hat_k", "summarize"]


def episode_key(record: dict[str, Any]) -> tuple[str, str, str, int]:
    return (record["domain"], record["task_id"], record["agent"], int(record["trial"]))


class ResultStore:
    def __init__(self, out: Path, *, resume: bool) -> None:
        self.out = out
        self.path = out / "results.jsonl"
        out.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size and not resume:
            raise FileExistsError(f"{self.path} already has results; pass --resume to continue it, or another --out")
        self._repair_partial_line()
        self._records: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        for record in self._read():
            self._records[episode_key(record)] = record

    def _repair_partial_line(self) -> None:
        """A run killed mid-write can leave half a line; drop it so the next append starts clean."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def finished(self, key: tuple[str, str, str, int]) -> bool:
        record = self._records.get(key)
        return record is not None and record.get("infra_error") is None

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._records[episode_key(record)] = record

    def records(self) -> list[dict[str, Any]]:
        """The latest record of every episode."""
        return sorted(self._records.values(), key=episode_key)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that k trials drawn from n (c successful) all succeed: C(c,k)/C(n,k)."""
    return comb(c, k) / comb(n, k) if n >= k else float("nan")


def _metrics(records: list[dict[str, Any]], k_max: int) -> dict[str, Any]:
    valid = [r for r in records if r.get("infra_error") is None]
    per_task: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in valid:
        per_task[(r["domain"], r["task_id"])].append(bool(r["success"]))
    out: dict[str, Any] = {
        "episodes": len(records),
        "infra_faults": len(records) - len(valid),
        "tasks": len(per_task),
        "mean_reward": round(sum(r["reward"] for r in valid) / len(valid), 4) if valid else None,
        "pass@1": round(sum(sum(v) / len(v) for v in per_task.values()) / len(per_task), 4) if per_task else None,
    }
    for k in range(1, k_max + 1):
        scores = [pass_hat_k(len(v), sum(v), k) for v in per_task.values() if len(v) >= k]
        out[f"pass^{k}"] = round(sum(scores) / len(scores), 4) if scores else None
        out[f"pass^{k}_tasks"] = len(scores)
    return out


def summarize(records: list[dict[str, Any]], k_max: int = 1) -> dict[str, Any]:
    """Per domain and overall; infrastructure faults are counted but excluded."""
    domains = sorted({r["domain"] for r in records})
    return {
        "domains": {d: _metrics([r for r in records if r["domain"] == d], k_max) for d in domains},
        "overall": _metrics(records, k_max),
        "infra_faults": [
            {"domain": r["domain"], "task_id": r["task_id"], "trial": r["trial"], **r["infra_error"]}
            for r in records
            if r.get("infra_error")
        ],
    }
