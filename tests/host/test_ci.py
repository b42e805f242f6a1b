"""CI fails loudly when pytest collects nothing: `.ci/run` → `make test` → pytest exit 5."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.host.conftest import ROOT


def test_ci_fails_when_no_test_is_collected(tmp_path: Path) -> None:
    empty = tmp_path / "no-tests-here"
    empty.mkdir()
    # setup and lint are taken as done: this is about the exit code of the test step.
    run = subprocess.run(
        [str(ROOT / ".ci" / "run"), "-o", "setup", "-o", "lint", f"TESTS={empty}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "no tests ran" in run.stdout
    assert "Error 5" in run.stderr, "make reports pytest's own exit code"
    assert run.returncode != 0


def test_make_test_runs_lint_and_the_whole_tests_folder() -> None:
    # --no-print-directory: under `make test` this runs as a sub-make, which would otherwise
    # print "Entering/Leaving directory" lines around the recipe.
    # (as a fresh shell would: a `make test TESTS=...` around this one must not change it)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "TESTS")}
    dry = subprocess.run(["make", "--no-print-directory", "-n", "-o", "setup", "test"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    lines = dry.stdout.splitlines()
    assert any("ruff check ." in line for line in lines)
    everything_else, e2e = lines[-2:]
    assert everything_else.endswith("-m pytest -n 2 --dist loadfile --ignore=tests/e2e tests")
    assert e2e.endswith("-m pytest -n 2 --dist loadfile tests/e2e")
