"""The README claims manifest (``tests/claims.py``) stays true to the README and to the test suite."""

from __future__ import annotations

import ast
import re
from collections import Counter

from .claims import CLAIMS, NO_CLAIMS
from .conftest import ROOT


def _test_functions(relative: str) -> set[str]:
    tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")}


def test_every_listed_test_exists() -> None:
    missing = []
    for claim in CLAIMS:
        assert claim.tests, claim.promise
        for test in claim.tests:
            path, _, name = test.partition("::")
            if not (ROOT / path).is_file() or name not in _test_functions(path):
                missing.append(f"{claim.section}: {test}")
    assert not missing, "listed tests that do not exist:\n" + "\n".join(missing)


def test_every_readme_section_has_a_claim_or_says_why_not() -> None:
    sections = re.findall(r"^## (.+?)\s*$", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.M)
    claimed = Counter(c.section for c in CLAIMS)
    assert set(claimed) <= set(sections), f"claims for sections the README no longer has: {set(claimed) - set(sections)}"
    assert set(NO_CLAIMS) <= set(sections) and not set(NO_CLAIMS) & set(claimed)
    uncovered = [s for s in sections if s not in claimed and s not in NO_CLAIMS]
    assert not uncovered, f"README sections with neither a claim nor a reason in NO_CLAIMS: {uncovered}"
    assert 20 <= len(CLAIMS) <= 60 and len({c.promise for c in CLAIMS}) == len(CLAIMS)
