"""`python -m devhost.servicebus`: the local Service Bus broker on its own."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from devhost.servicebus.broker import Broker
from devhost.servicebus.entities import DEFAULT_CONFIG, load_entities


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost.servicebus", description=__doc__)
    parser.add_argument("--port", type=int, default=5672, help="0 picks a free port")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost/servicebus"))
    parser.add_argument("--key-name", default="local")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("proton").setLevel(logging.WARNING)  # not a line per connection
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Broker(
        port=args.port, data_dir=args.data_dir, entities=load_entities(args.config),
        key_name=args.key_name,
    ) as broker:  # fmt: skip
        print(f"servicebus: listening on 127.0.0.1:{broker.port}", flush=True)
        print(f"  connection string: {broker.connection_string}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
