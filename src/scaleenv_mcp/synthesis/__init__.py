"""The synthesis layer: LLM proposers through litellm (staged prompts, repair, cache, provenance)."""

from __future__ import annotations

from .names import NameOutcome, synthesize_names
from .proposer import Budget, LLMError, Proposal, SynthesisFailed, domain_name, near_duplicates, propose_domain, repair_proposal

__all__ = [
    "Budget",
    "LLMError",
    "NameOutcome",
    "Proposal",
    "SynthesisFailed",
    "domain_name",
    "near_duplicates",
    "propose_domain",
    "repair_proposal",
    "synthesize_names",
]
