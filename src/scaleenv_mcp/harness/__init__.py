"""The harness layer: agents act on tasks over MCP stdio, verified through the control channel;
results, pass@1 / pass^k and trajectories are recorded."""

from __future__ import annotations

from .agents import Agent, AgentOutcome, AgentSession, InfraError, NoopAgent, OracleAgent, RandomAgent
from .evaluate import EvalError, evaluate, select_tasks
from .factory import AGENT_NAMES, make_agent
from .results import EpisodeRecord, EvalReport, Metrics, ResultStore, pass_hat_k, summarize
from .runner import EvalPlan, run_episode, run_eval

__all__ = [
    "AGENT_NAMES",
    "Agent",
    "AgentOutcome",
    "AgentSession",
    "EpisodeRecord",
    "EvalError",
    "EvalPlan",
    "EvalReport",
    "InfraError",
    "Metrics",
    "NoopAgent",
    "OracleAgent",
    "RandomAgent",
    "ResultStore",
    "evaluate",
    "make_agent",
    "pass_hat_k",
    "run_episode",
    "run_eval",
    "select_tasks",
    "summarize",
]
