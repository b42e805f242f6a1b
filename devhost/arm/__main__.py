"""`python -m devhost.arm`: the ARM stand-in on its own, with the identity endpoint.

It prints what a process needs to use it: ARM_ENDPOINT, the managed-identity variables and the
CA bundle to trust. Blob storage is Azurite (the disks' bytes live there): pass its connection
string, or leave the default for Azurite on its usual ports.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from devhost.arm.config import (
    DEFAULT_PORT,
    LOCAL_STORAGE,
    StandInConfig,
    local_failover_settings,
)
from devhost.arm.server import ArmStandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.arm", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost/arm"))
    parser.add_argument("--storage", default=LOCAL_STORAGE, help="Azurite connection string")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("azure").setLevel(logging.WARNING)
    config = StandInConfig.from_settings(local_failover_settings(""))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ArmStandIn(args.data_dir, args.storage, config, port=args.port) as arm:
        print(f"arm: listening on {arm.endpoint}", flush=True)
        for name, value in {
            **local_failover_settings(arm.endpoint),
            **arm.app_environment(),
        }.items():
            print(f"  {name}={value}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
