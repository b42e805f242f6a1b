"""`python -m devhost`: run function_app.py locally, like `func start`.

--with-azurite starts Azurite on its default ports and points every setting that says
`UseDevelopmentStorage=true` at it; --with-servicebus starts the local Service Bus broker;
--with-arm starts the local ARM stand-in (Compute and Network for failover, devhost/arm/) with
the managed-identity endpoint, and gives the app ARM_ENDPOINT and the identity variables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from devhost.settings import SettingsError, export, load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", default="function_app", help="module that defines `app`")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", type=Path, default=Path("local.settings.json"))
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost"))
    parser.add_argument("--with-azurite", action="store_true")
    parser.add_argument("--with-servicebus", action="store_true")
    parser.add_argument("--with-arm", action="store_true", help="the local ARM stand-in")
    parser.add_argument(
        "--activity-concurrency", type=int, default=None,
        help="activities run at once (default: host.json maxConcurrentActivityFunctions, or 16)",
    )  # fmt: skip
    parser.add_argument(
        "--list", action="store_true", help="print the app's functions and exit (no settings)"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    from devhost.functions import load_app
    from devhost.webhost import DevHost

    host = DevHost(
        load_app(args.app),
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        activity_concurrency=args.activity_concurrency,
    )
    await host.start()
    print(f"devhost: listening on {host.base_url}", flush=True)
    for line in host.describe():
        print(f"  {line}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await host.stop()


def list_functions(module: str) -> int:
    """One line per function: name, trigger type, and the trigger's main setting."""
    from devhost.functions import index, load_app

    for spec in index(load_app(module).get_functions()):
        trigger = spec.trigger
        detail = (
            f"[{','.join(spec.methods)}] /{spec.route.template} ({spec.auth_level})"
            if spec.route is not None
            else trigger.get("queueName") or trigger.get("topicName") or trigger.get("schedule")
        )
        print(f"{spec.name} {spec.trigger_type} {detail or ''}".rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("azure").setLevel(logging.WARNING)
    if args.list:
        return list_functions(args.app)
    try:
        export(load_settings(args.settings))
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if args.with_azurite:
            from devhost.azurite import Azurite

            location = args.data_dir / "azurite"
            azurite = stack.enter_context(
                Azurite(location=location, blob_port=10000, queue_port=10001, table_port=10002)
            )
            for key, value in list(os.environ.items()):
                if value == "UseDevelopmentStorage=true":
                    os.environ[key] = azurite.connection_string
        if args.with_servicebus:
            from devhost.servicebus import start_broker  # the local broker

            stack.enter_context(start_broker(port=5672, data_dir=args.data_dir / "servicebus"))
        if args.with_arm:
            from devhost.arm.config import DEFAULT_PORT
            from devhost.arm.launch import replica_storage, start_for_app

            try:
                arm = start_for_app(args.data_dir / "arm", replica_storage(), port=DEFAULT_PORT)
            except ValueError as error:  # a failover setting that is not an ARM id
                print(f"devhost: {error}", file=sys.stderr)
                return 2
            stack.callback(arm.stop)
            print(f"devhost: ARM stand-in on {arm.endpoint}", flush=True)
        try:
            asyncio.run(serve(args))
        except SettingsError as error:
            print(error, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
