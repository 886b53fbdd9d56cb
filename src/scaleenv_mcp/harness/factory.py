"""Agents by name: ``oracle``, ``noop``, ``random`` or ``litellm:MODEL``."""

from __future__ import annotations

from typing import Any

from ..spec.task import TaskSpec
from .agents import Agent, NoopAgent, OracleAgent, RandomAgent

__all__ = ["AGENT_NAMES", "make_agent"]

AGENT_NAMES = ("oracle", "noop", "random", "litellm:MODEL")


def make_agent(spec: str, tasks: dict[str, TaskSpec], **llm_options: Any) -> Agent:
    """The agent ``spec`` names; a ValueError that lists the choices for anything else."""
    if spec == "oracle":
        return OracleAgent(tasks)
    if spec == "noop":
        return NoopAgent()
    if spec == "random":
        return RandomAgent()
    if spec.startswith("litellm:") and len(spec) > len("litellm:"):
        from .litellm_agent import LiteLLMAgent  # litellm is slow to import; only LLM agents need it

        return LiteLLMAgent(spec.removeprefix("litellm:"), **llm_options)
    raise ValueError(f"unknown agent {spec!r}; use oracle, noop, random or litellm:MODEL (e.g. litellm:openai/gpt-4o)")
