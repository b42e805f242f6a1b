"""docs/runbook-api.md stays true to the code: every route the app documents in OpenAPI and
every prerequisite rule, with the fix it gives under the default profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.prerequisites import ASR_2026, CATALOGUE
from triggers.openapi import ROUTES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "runbook-api.md").read_text()


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_described(route) -> None:
    flat = DOC.replace("[/{", "/{")  # "jobs[/{job}]" describes both jobs and jobs/{job}
    assert f"/api{route.path}" in flat


@pytest.mark.parametrize("rule", CATALOGUE, ids=lambda r: r.code)
def test_every_rule_is_listed_with_its_fix(rule) -> None:
    row = next((line for line in DOC.splitlines() if line.startswith(f"| `{rule.code}` |")), "")
    assert row, f"{rule.code} is missing from the rule table"
    assert rule.fix(ASR_2026) in row
    assert rule.severity.value in row
    assert ("| yes |" in row) == rule.asr_only
