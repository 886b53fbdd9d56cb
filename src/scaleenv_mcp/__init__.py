"""scaleenv-mcp: synthesize tool-use environments and serve each one as an MCP server.

The public surface is this module's ``__all__`` (a test pins it)::

    import scaleenv_mcp as se
    domain = se.load("retail")                      # a compiled domain: spec, tools, tasks, graph
    ep = domain.episode("retail-002")               # domain.episode() = seeded state, no task
    result = ep.call("find_customer_by_email", {"email": "..."})   # ok / data / error
    saved = ep.snapshot(); ep.restore(saved); ep.reset()
    verdict = ep.verify(answer="...")               # reward, success, per-check detail
    se.compile_blueprint("synthesis/domains/retail.yaml")   # validate + gate + tasks, nothing written
    se.synthesize("pet grooming salon", model="openai/gpt-4o")
    se.evaluate("oracle", domains=["retail"], tasks=2)      # a typed report
    await se.run_episode(task, base_url="http://proxy/v1", model="policy")   # one episode via your endpoint
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._api import Domain, Episode, compile_blueprint, evaluate, load, synthesize
    from .compiler.pipeline import GateFailed
    from .compiler.proctest import DomainReport
    from .engine.diff import StateDiff
    from .engine.runtime import ToolError, ToolResult
    from .harness.episode import EpisodeResult, ModelError, run_episode
    from .harness.evaluate import EvalError
    from .harness.results import EpisodeRecord, EvalReport, Metrics
    from .spec.catalog import DomainNotFound
    from .spec.model import DomainSpec
    from .spec.problems import BlueprintError, Problem
    from .spec.task import TaskSpec
    from .synthesis.proposer import LLMError, SynthesisFailed
    from .tasks.grader import CheckResult, Verification

_HOMES = {
    "Domain": "._api", "Episode": "._api", "compile_blueprint": "._api", "evaluate": "._api", "load": "._api",
    "synthesize": "._api", "GateFailed": ".compiler.pipeline", "DomainReport": ".compiler.proctest",
    "StateDiff": ".engine.diff", "ToolError": ".engine.runtime", "ToolResult": ".engine.runtime",
    "EpisodeResult": ".harness.episode", "ModelError": ".harness.episode", "run_episode": ".harness.episode",
    "EvalError": ".harness.evaluate", "EpisodeRecord": ".harness.results", "EvalReport": ".harness.results",
    "Metrics": ".harness.results", "DomainNotFound": ".spec.catalog", "BlueprintError": ".spec.problems",
    "Problem": ".spec.problems", "DomainSpec": ".spec.model", "TaskSpec": ".spec.task", "LLMError": ".synthesis.proposer",
    "SynthesisFailed": ".synthesis.proposer", "CheckResult": ".tasks.grader", "Verification": ".tasks.grader",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Public names load on first use: ``import scaleenv_mcp`` stays cheap for a server process."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'scaleenv_mcp' has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BlueprintError",
    "CheckResult",
    "Domain",
    "DomainNotFound",
    "DomainReport",
    "DomainSpec",
    "Episode",
    "EpisodeRecord",
    "EpisodeResult",
    "EvalError",
    "EvalReport",
    "GateFailed",
    "LLMError",
    "Metrics",
    "ModelError",
    "Problem",
    "StateDiff",
    "SynthesisFailed",
    "TaskSpec",
    "ToolError",
    "ToolResult",
    "Verification",
    "__version__",
    "compile_blueprint",
    "evaluate",
    "load",
    "run_episode",
    "synthesize",
]
