"""Shared fixtures and the fast tier's rules.

- The shipped domains, loaded the way users load them. ``load_domain`` keeps each compiled spec for
  as long as its file is unchanged (``spec/catalog.py``), so every test and fixture below shares one
  parsed spec per domain per session, with its views (tool views, schemas, validators) computed once.
- A seeded rotation of domains for the end-to-end tests that recompile a domain: each run takes a
  few domains, chosen by ``SCALEENV_ROTATION`` (default: the day), printed in the header so a failure
  is reproduced with the same seed; over days every domain is recompiled, and every domain's gate
  runs in every run (``tests/compiler/test_gate_seeds.py``).
- A time budget per test: the default run must stay under a minute and a half on 2 cores as the
  corpus grows, so a fast-tier test whose setup or call takes longer than ``FAST_TEST_BUDGET_S``
  seconds fails, unless it is marked ``@pytest.mark.slow_ok(reason=...)`` (the reason says why it
  cannot be cheaper) or is an ``e2e`` test. ``SCALEENV_TEST_BUDGET`` sets it, in seconds, for a slower machine.
"""

from __future__ import annotations

import datetime
import os
import random
from collections.abc import Generator, Sequence
from pathlib import Path

import pytest

from scaleenv_mcp.spec.catalog import domain_names, load_domain
from scaleenv_mcp.spec.model import DomainSpec
from scaleenv_mcp.spec.paths import ProjectPaths

ROOT = Path(__file__).resolve().parents[1]
PATHS = ProjectPaths(ROOT)
SHIPPED = domain_names(PATHS)

ROTATION_SEED = int(os.environ.get("SCALEENV_ROTATION", datetime.date.today().toordinal()))
"""which domains this run's rotation takes (set ``SCALEENV_ROTATION`` to rerun another day's choice)"""


def rotation(names: Sequence[str], k: int, *, salt: str) -> list[str]:
    """``k`` of ``names``, drawn by the run's rotation seed (and ``salt``, so each test draws its own)."""
    return sorted(random.Random(f"{ROTATION_SEED}:{salt}").sample(list(names), min(k, len(names))))


REPRODUCED = rotation(SHIPPED, 4, salt="synth")
"""the domains whose committed files this run recompiles byte for byte"""


def pytest_report_header(config: pytest.Config) -> str:
    return f"domain rotation: SCALEENV_ROTATION={ROTATION_SEED} (recompiled byte for byte: {', '.join(REPRODUCED)})"


FAST_TEST_BUDGET_S = 30.0
"""Seconds a fast-tier test's setup or call may take: about 3x the slowest today under a loaded 2-core machine."""


def budget() -> float:
    return float(os.environ.get("SCALEENV_TEST_BUDGET", FAST_TEST_BUDGET_S))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow_ok(reason): a fast-tier test allowed past the per-test time budget, and why")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, None]:
    """Fail a passing fast-tier test that went over the budget, naming the budget and the way out."""
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.passed or item.get_closest_marker("e2e") is not None:
        return
    marker = item.get_closest_marker("slow_ok")
    if marker is not None:
        if report.when == "call" and not marker.kwargs.get("reason") and not marker.args:
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid}: @pytest.mark.slow_ok needs a reason"
        return
    limit = budget()
    if report.duration > limit:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: {report.when} took {report.duration:.1f} s, over the fast tier's budget of {limit:g} s "
            "(make it cheaper, mark it @pytest.mark.e2e, or @pytest.mark.slow_ok(reason=...); SCALEENV_TEST_BUDGET sets it in seconds)"
        )


@pytest.fixture(scope="session")
def paths() -> ProjectPaths:
    return PATHS


def shipped_spec(name: str) -> DomainSpec:
    """A shipped domain's spec: the same object for the whole session (the loader keeps it)."""
    return load_domain(PATHS, name)


@pytest.fixture(scope="session")
def retail() -> DomainSpec:
    return shipped_spec("retail")
