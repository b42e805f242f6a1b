"""`python -m bench [NAME ...]`: run the benchmarks one after another, each in its own process
so one's memory and threads never colour another's figures. Each prints its JSON; this prints
them together as one JSON object keyed by name, and exits non-zero if any failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ALL = (
    "devhost",
    "servicebus",
    "replication",
    "control_plane",
    "runbook_api",
    "cost",
    "failover",
    "plan",
    "asr",
)


def main(argv: list[str]) -> int:
    names = argv or [n for n in ALL if (HERE / f"{n}.py").exists()]
    results: dict[str, object] = {}
    failed = False
    for name in names:
        print(f"bench: running {name}", file=sys.stderr, flush=True)
        run = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent, capture_output=True, text=True
        )
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            failed = True
            results[name] = {"error": f"exit code {run.returncode}"}
            continue
        results[name] = json.loads(run.stdout)
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
