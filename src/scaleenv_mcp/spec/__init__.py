"""The spec layer: a domain as validated data (the IR), its static views, and loading.

Everything above this layer speaks in these types; nothing here imports any other layer.
"""

from __future__ import annotations

from .catalog import DomainNotFound, domain_names, load_domain, load_domain_tasks, load_spec_file, read_index
from .expr import ExprError
from .load import load_blueprint, parse_blueprint
from .model import (
    CreateEffect,
    DeleteEffect,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    LookupSpec,
    ParamSpec,
    RuleSpec,
    SearchSpec,
    ToolSpec,
    ToolView,
)
from .paths import ProjectPaths, project_paths
from .problems import BlueprintError, Problem
from .task import CheckSpec, TaskSpec, ToolCall, load_tasks, tasks_jsonl
from .types import FieldType
from .validate import check_spec

__all__ = [
    "BlueprintError",
    "CheckSpec",
    "CreateEffect",
    "DeleteEffect",
    "DomainNotFound",
    "DomainSpec",
    "EntitySpec",
    "ExprError",
    "FieldSpec",
    "FieldType",
    "LookupSpec",
    "ParamSpec",
    "Problem",
    "ProjectPaths",
    "RuleSpec",
    "SearchSpec",
    "TaskSpec",
    "ToolCall",
    "ToolSpec",
    "ToolView",
    "check_spec",
    "domain_names",
    "load_blueprint",
    "load_domain",
    "load_domain_tasks",
    "load_spec_file",
    "load_tasks",
    "parse_blueprint",
    "project_paths",
    "read_index",
    "tasks_jsonl",
]
