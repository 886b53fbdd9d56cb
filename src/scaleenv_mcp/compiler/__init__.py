"""The compiler layer: procedural tests (the gate), intent examples, code generation, and the compile pipeline."""

from __future__ import annotations

from .codegen import generate_domain, write_index
from .pipeline import CompiledDomain, GateFailed, SynthOutcome, compile_spec, emit, synth_blueprints
from .proctest import DomainReport, ToolReport, Violation, test_domain

__all__ = [
    "CompiledDomain",
    "DomainReport",
    "GateFailed",
    "SynthOutcome",
    "ToolReport",
    "Violation",
    "compile_spec",
    "emit",
    "generate_domain",
    "synth_blueprints",
    "test_domain",
    "write_index",
]
