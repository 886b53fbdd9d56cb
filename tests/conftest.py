"""Shared fixtures: the project's shipped domains, loaded the way users load them."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaleenv_mcp.spec.catalog import domain_names, load_domain
from scaleenv_mcp.spec.model import DomainSpec
from scaleenv_mcp.spec.paths import ProjectPaths

ROOT = Path(__file__).resolve().parents[1]
PATHS = ProjectPaths(ROOT)
SHIPPED = domain_names(PATHS)


@pytest.fixture(scope="session")
def paths() -> ProjectPaths:
    return PATHS


def shipped_spec(name: str) -> DomainSpec:
    return load_domain(PATHS, name)


@pytest.fixture(scope="session")
def retail() -> DomainSpec:
    return shipped_spec("retail")
