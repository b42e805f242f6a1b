"""domain/ stays pure: no Azure SDK, no I/O, no clock reads (`now` is always a parameter)."""

from __future__ import annotations

import re
from pathlib import Path

import domain

FORBIDDEN = [
    r"^\s*(from|import)\s+azure\b",
    r"\bdatetime\.now\(",
    r"\bdatetime\.utcnow\(",
    r"\btime\.time\(",
    r"\bdate\.today\(",
    r"\bopen\(",
    r"^\s*(from|import)\s+(os|pathlib|socket|requests|httpx|urllib|subprocess)\b",
]


def test_domain_has_no_io_clock_or_azure_imports():
    root = Path(domain.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(re.search(p, line) for p in FORBIDDEN):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
