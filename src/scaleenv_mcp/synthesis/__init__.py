"""The synthesis layer: LLM proposers through litellm (staged prompts, repair, cache, provenance)."""

from __future__ import annotations

from .names import NameOutcome, synthesize_names
from .proposer import LLMError, Proposal, SynthesisFailed, domain_name, near_duplicates, propose_domain

__all__ = [
    "LLMError",
    "NameOutcome",
    "Proposal",
    "SynthesisFailed",
    "domain_name",
    "near_duplicates",
    "propose_domain",
    "synthesize_names",
]
