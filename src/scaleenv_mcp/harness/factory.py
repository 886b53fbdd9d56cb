"""Agents by name: ``oracle``, ``noop``, ``random`` or ``litellm:MODEL``."""

from __future__ import annotations

from ..llm import ModelOptions
from ..spec.task import TaskSpec
from .agents import Agent, NoopAgent, OracleAgent, RandomAgent

__all__ = ["AGENT_NAMES", "make_agent"]

AGENT_NAMES = ("oracle", "noop", "random", "litellm:MODEL")


def make_agent(spec: str, tasks: dict[str, TaskSpec], *, model: ModelOptions | None = None, user_sim: str | None = None) -> Agent:
    """The agent ``spec`` names; a ValueError that lists the choices for anything else. ``model`` and
    ``user_sim`` are for ``litellm:MODEL`` agents: how the model is reached, and the simulated user's model."""
    if spec == "oracle":
        return OracleAgent(tasks)
    if spec == "noop":
        return NoopAgent()
    if spec == "random":
        return RandomAgent()
    if spec.startswith("litellm:") and len(spec) > len("litellm:"):
        from .litellm_agent import LiteLLMAgent  # litellm is slow to import; only LLM agents need it

        return LiteLLMAgent(spec.removeprefix("litellm:"), options=model, user_sim=user_sim)
    raise ValueError(f"unknown agent {spec!r}; use oracle, noop, random or litellm:MODEL (e.g. litellm:openai/gpt-4o)")
