"""The harness layer: agents act on tasks over MCP stdio, verified through the control channel;
results, pass@1 / pass^k and trajectories are recorded."""

from __future__ import annotations

from .agents import Agent, AgentOutcome, AgentSession, InfraError, NoopAgent, OracleAgent, RandomAgent
from .evaluate import EvalError, EvalOptions, ModelOptions, run_evaluation, select_tasks
from .factory import AGENT_NAMES, make_agent
from .results import EpisodeRecord, EvalReport, Metrics, ResultStore, pass_hat_k, summarize
from .runner import EvalPlan, run_eval, run_eval_episode

__all__ = [
    "AGENT_NAMES",
    "Agent",
    "AgentOutcome",
    "AgentSession",
    "EpisodeRecord",
    "EvalError",
    "EvalOptions",
    "EvalPlan",
    "EvalReport",
    "InfraError",
    "Metrics",
    "ModelOptions",
    "NoopAgent",
    "OracleAgent",
    "RandomAgent",
    "ResultStore",
    "make_agent",
    "pass_hat_k",
    "run_eval",
    "run_eval_episode",
    "run_evaluation",
    "select_tasks",
    "summarize",
]
