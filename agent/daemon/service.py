"""`python -m agent run`: the agent daemon of one site (one VMM server).

It receives its site's commands from the `agent-commands` topic (subscription = site name),
runs replicate and sync commands with the upload engine in worker threads, and sends progress,
completion, failure and heartbeat events to `agent-events`. The same settings shape works
against Service Bus in Azure and devhost's local broker:

  AGENT_SERVICEBUS_CONNECTION="Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=..."
  python -m agent run --site vmm01 --tenant contoso --state-dir /var/lib/dr-agent

It keeps working across restarts of either side: commands are journalled (a duplicate runs
once, an unfinished one resumes at start), outcome events wait in an outbox until Service Bus
takes them, and a lost connection is re-opened with backoff.

A sync that asks for an app-consistent point freezes the VM through the operator's quiesce
hook (AGENT_QUIESCE_HOOK, see agent/quiesce.py); without one the point is crash-consistent and
its completion event says why (`consistencyNote`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.daemon.bus import Backoff, Outbox, connect, volatile_key
from agent.daemon.journal import CommandJournal, Entry
from agent.daemon.work import Settings, run_command
from agent.quiesce import DEFAULT_TIMEOUT_SECONDS, Hook, hook_problem, parse_hook

log = logging.getLogger("agent.daemon")
COMMANDS_TOPIC = "agent-commands"
VERSION = "1.0"


def _rate(text: str) -> int:
    from agent.throttle import parse_rate

    try:
        return parse_rate(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m agent run", description=__doc__.split("\n")[0])
    p.add_argument("--site", required=True, help="this VMM server's site name (its subscription)")
    p.add_argument(
        "--tenant",
        default=os.environ.get("AGENT_TENANT"),
        help="the tenant this site belongs to (heartbeats name it; env AGENT_TENANT)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="journals, manifests and the outbox live here; keep it across restarts",
    )
    p.add_argument(
        "--connection",
        default=os.environ.get("AGENT_SERVICEBUS_CONNECTION"),
        help="Service Bus connection string (env AGENT_SERVICEBUS_CONNECTION)",
    )
    p.add_argument(
        "--namespace",
        default=os.environ.get("AGENT_SERVICEBUS_NAMESPACE"),
        help="or: NS.servicebus.windows.net with Entra ID (env AGENT_SERVICEBUS_NAMESPACE)",
    )
    p.add_argument("--workers", type=int, default=4, help="VMs replicated at once (default 4)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight per disk")
    p.add_argument(
        "--bandwidth",
        type=_rate,
        default=None,
        help="cap on upload bandwidth per command, e.g. 50MB/s (default: none)",
    )
    p.add_argument("--heartbeat-seconds", type=float, default=30.0)
    p.add_argument(
        "--progress-seconds",
        type=float,
        default=2.0,
        help="at most one progress event per VM this often (default 2)",
    )
    p.add_argument(
        "--quiesce-hook",
        default=os.environ.get("AGENT_QUIESCE_HOOK"),
        help="executable (or command line) that freezes a VM for app-consistent points, e.g. "
        "a Hyper-V production checkpoint script; see docs/agent.md (env AGENT_QUIESCE_HOOK)",
    )
    p.add_argument(
        "--quiesce-timeout",
        type=float,
        default=float(os.environ.get("AGENT_QUIESCE_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS),
        help="seconds a freeze or thaw may take before it is stopped (default 120; "
        "env AGENT_QUIESCE_TIMEOUT_SECONDS)",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)  # fmt: skip
    if not args.connection and not args.namespace:
        p.error("no Service Bus to talk to. Fix: set AGENT_SERVICEBUS_CONNECTION (or pass "
                "--connection), or AGENT_SERVICEBUS_NAMESPACE for Entra ID.")  # fmt: skip
    if args.workers < 1 or args.heartbeat_seconds <= 0 or args.progress_seconds < 0:
        p.error("--workers must be ≥ 1 and --heartbeat-seconds > 0.")
    if args.quiesce_timeout <= 0:
        p.error("--quiesce-timeout must be > 0 seconds.")
    args.quiesce_argv = parse_hook(args.quiesce_hook) if args.quiesce_hook else None
    if args.quiesce_argv is not None and (problem := hook_problem(args.quiesce_argv)):
        p.error(f"{problem} Fix: set AGENT_QUIESCE_HOOK (or --quiesce-hook) to the hook's "
                "path, or unset it for crash-consistent points only.")  # fmt: skip
    return args


def quiesce_hook(args: argparse.Namespace) -> Hook | None:
    """The operator's quiesce hook, or None: then every point is crash-consistent."""
    if args.quiesce_argv is None:
        return None
    return Hook(args.quiesce_argv, args.quiesce_timeout, args.state_dir)


class Daemon:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stop = threading.Event()
        self.journal = CommandJournal(args.state_dir)
        self.outbox = Outbox(args.state_dir, self._client, self.stop)
        self.settings = Settings(args.state_dir, concurrency=args.concurrency,
                                 bandwidth_bytes_per_s=args.bandwidth,
                                 quiesce_hook=quiesce_hook(args))  # fmt: skip
        self.pool = ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="cmd")
        self.running: dict[str, threading.Event] = {}  # command id -> its cancel flag
        self.vm_locks: dict[str, threading.Lock] = {}
        self.latest: dict[str, str] = {}  # vm -> newest command id (older ones are dropped)
        self.tenant: str | None = args.tenant
        self._lock = threading.Lock()

    def _client(self):
        return connect(self.args.connection, self.args.namespace)

    # --- the main loop -------------------------------------------------------------------------

    def run(self) -> int:
        self.outbox.thread.start()
        threading.Thread(target=self._heartbeats, name="heartbeat", daemon=True).start()
        self.journal.forget_old()
        if self.settings.quiesce_hook is not None:  # before anything reads: merge stale freezes
            self.settings.quiesce_hook.thaw_leftovers()
        for command in self.journal.open_commands():  # resume what a restart interrupted
            log.info(
                "resuming command %s (%s of %s)", command["id"], command["type"], command["vm"]
            )
            self._submit(command)
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                self._receive(backoff)
            except Exception as error:  # the broker restarted, the network dropped
                if self.stop.is_set():
                    break
                wait = backoff.next()
                log.warning("Service Bus connection lost (%s); reconnecting in %.1f s", error, wait)
                self.stop.wait(wait)
        self._shutdown()
        return 0

    def _receive(self, backoff: Backoff) -> None:
        with (
            self._client() as client,
            client.get_subscription_receiver(
                COMMANDS_TOPIC, self.args.site, max_wait_time=5
            ) as receiver,
        ):
            log.info("listening for commands of site %s", self.args.site)
            while not self.stop.is_set():
                for message in receiver.receive_messages(max_message_count=10, max_wait_time=2):
                    self._accept(message)
                    receiver.complete_message(message)  # journalled first: never lost
                backoff.reset()

    def _accept(self, message: Any) -> None:
        try:
            command = json.loads(str(message))
            kind = command["type"]
            command["id"], command["vm"]
        except (ValueError, KeyError, TypeError) as error:
            log.error("ignoring a command that is not valid JSON with id, type, vm: %s", error)
            return
        self.tenant = self.tenant or command.get("tenant")
        if kind == "cancel":
            self._cancel(command["data"].get("commandId", ""), "the control plane cancelled it")
            return
        seen = self.journal.accept(command)
        if seen is not None:
            self._duplicate(seen)
            return
        self._submit(command)

    def _duplicate(self, entry: Entry) -> None:
        """A command seen before: if it ended, say how again (same event id, deduplicated)."""
        log.info("command %s again (%s)", entry.command["id"], entry.state)
        if entry.outcome is not None:
            self.outbox.put(entry.outcome)

    def _submit(self, command: dict[str, Any]) -> None:
        vm = command["vm"]
        with self._lock:
            previous = self.latest.get(vm)
            self.latest[vm] = command["id"]
            cancel = self.running.setdefault(command["id"], threading.Event())
        if previous and previous != command["id"]:
            # A resend (fresh SAS) or the next cycle supersedes what still runs for the VM.
            self._cancel(previous, "a newer command for the VM superseded it")
        self.pool.submit(self._work, command, cancel)

    def _cancel(self, command_id: str, why: str) -> None:
        with self._lock:
            flag = self.running.get(command_id)
        entry = self.journal.get(command_id)
        if flag is not None:
            flag.set()
        if entry is not None and entry.state in ("accepted", "running"):
            log.info("cancelling %s: %s", command_id, why)
            self.journal.save(Entry(entry.command, "cancelled"))

    # --- one command ---------------------------------------------------------------------------

    def _work(self, command: dict[str, Any], cancel: threading.Event) -> None:
        vm = command["vm"]
        with self._lock:
            lock = self.vm_locks.setdefault(vm, threading.Lock())
        with lock:  # one command per VM at a time: never two writers on one blob
            try:
                entry = self.journal.get(command["id"])
                if cancel.is_set() or (entry and entry.state == "cancelled") or self.stop.is_set():
                    return
                self.journal.save(Entry(command, "running"))
                log.info("running %s (%s of %s)", command["id"], command["type"], vm)
                throttle = Throttle(self.args.progress_seconds)

                def progress(data: dict[str, Any]) -> None:
                    if throttle.due() or data["bytesDone"] >= data["bytesTotal"]:
                        event = self.event("replication.progress", data, command)
                        self.outbox.put_latest(volatile_key(event), event)

                outcome = run_command(command, self.settings, cancel, progress)
                if outcome is None or self.stop.is_set():
                    return  # cancelled (superseded, disabled) or shutting down: resumes later
                kind, data = outcome
                event = self.event(kind, data, command)
                state = "done" if kind != "replication.failed" else "failed"
                self.journal.save(Entry(command, state, event))
                self.outbox.put(event)
                log.info("command %s %s", command["id"], state)
            finally:
                with self._lock:
                    self.running.pop(command["id"], None)

    def event(self, type_: str, data: dict[str, Any], command: dict[str, Any] | None = None
              ) -> dict[str, Any]:  # fmt: skip
        body = {"type": type_, "tenant": (command or {}).get("tenant") or self.tenant,
                "site": self.args.site, "id": uuid.uuid4().hex,
                "time": datetime.now(UTC).isoformat(), "data": data}  # fmt: skip
        if command is not None:
            body["vm"] = command["vm"]
        return body

    # --- heartbeats and shutdown ---------------------------------------------------------------

    def _heartbeats(self) -> None:
        while not self.stop.is_set():
            if self.tenant:
                with self._lock:
                    running = sorted(self.running)
                event = self.event(
                    "agent.heartbeat", {"agentVersion": VERSION, "runningCommands": running[:100]}
                )
                self.outbox.put_latest("heartbeat", event)  # fmt: skip
            self.stop.wait(self.args.heartbeat_seconds)

    def _shutdown(self) -> None:
        with self._lock:
            flags = list(self.running.values())
        for flag in flags:  # the engines save their journals; the commands resume next start
            flag.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.outbox.flush(timeout=5)
        log.info("stopped")


class Throttle:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.last = seconds, 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.seconds:
            self.last = now
            return True
        return False


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:  # `python -m agent run -- --site ...`
        argv = argv[1:]
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    logging.getLogger("azure").setLevel(logging.WARNING)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(args)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        daemon.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return daemon.run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
