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
its completion event says why (`consistencyNote`). A `shutdown` (planned failover) runs on its
own small pool, so long replications never hold it up, and answers `command.result`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from agent.daemon.bandwidth import SiteBandwidth
from agent.daemon.bus import Backoff, Outbox, connect, volatile_key
from agent.daemon.inventory import InventoryReporter
from agent.daemon.journal import CommandJournal, Entry
from agent.daemon.settings import parse_args, power_control, powershell, quiesce_hook
from agent.daemon.shutdown import run_shutdown
from agent.daemon.work import Settings, run_command
from agent.hyperv.rct import Rct
from agent.private import private_dir
from agent.redact import RedactingFilter, redact_data

log = logging.getLogger("agent.daemon")
COMMANDS_TOPIC = "agent-commands"
VERSION = "1.0"
REPLICATION = ("replicate", "sync")
POWER = ("shutdown",)
SITE_WIDE = ("bandwidth",)  # no VM: session id = the site
POWER_WORKERS = 4  # shutdowns of one recovery plan's group run at once


class Daemon:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stop = threading.Event()
        self.journal = CommandJournal(args.state_dir)
        self.outbox = Outbox(args.state_dir, self._client, self.stop, args.events_queue)
        self.bandwidth = SiteBandwidth(args.state_dir, args.bandwidth, self.stop)
        shell = powershell(args)
        self.settings = Settings(args.state_dir, concurrency=args.concurrency,
                                 quiesce_hook=quiesce_hook(args),
                                 shared_bucket=self.bandwidth.bucket,
                                 allowed_roots=args.allowed_roots,
                                 rct=Rct(shell) if shell is not None else None)  # fmt: skip
        self.pool = ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="cmd")
        self.power = power_control(args)
        self.inventory = None if shell is None else InventoryReporter(
            shell, args.state_dir, self._report, self.stop,
            poll_seconds=args.inventory_seconds, snapshot_seconds=args.snapshot_seconds,
        )  # fmt: skip
        self.power_pool = ThreadPoolExecutor(max_workers=POWER_WORKERS, thread_name_prefix="power")
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
        self.bandwidth.thread.start()
        if self.inventory is not None:
            self.inventory.thread.start()
        threading.Thread(target=self._heartbeats, name="heartbeat", daemon=True).start()
        self.journal.forget_old()
        if self.args.allowed_roots is None:
            log.warning("AGENT_ALLOWED_DISK_ROOTS is not set: this agent reads any disk path a "
                        "command names. Set it to the folders holding the VMs' disks.")  # fmt: skip
        if self.settings.quiesce_hook is not None:  # before anything reads: merge stale freezes
            self.settings.quiesce_hook.thaw_leftovers()
        for command in self.journal.open_commands():  # resume what a restart interrupted
            log.info(
                "resuming command %s (%s of %s)", command["id"], command["type"], command["vm"]
            )
            self._dispatch(command)
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
        command = self._envelope(str(message))
        if command is None:
            return
        self.tenant = self.tenant or command.get("tenant")
        if command["type"] == "cancel":
            data = command.get("data") if isinstance(command.get("data"), dict) else {}
            self._cancel(str(data.get("commandId", "")), "the control plane cancelled it")
            return
        seen = self.journal.accept(command)
        if seen is not None:
            self._duplicate(seen)
            return
        if command["type"] in SITE_WIDE:  # quick, and in order with the site's other settings
            self._finish(command, "command.result", self.bandwidth.handle(command))
            return
        self._dispatch(command)

    def _envelope(self, body: str) -> dict[str, Any] | None:
        """The command, if its envelope is one this daemon may act on; else logged and None.
        Only this site's commands count: the subscription filters on a message property,
        but the body says what is acted on, so it must name this site too."""
        try:
            command = json.loads(body)
            kind, command_id = command["type"], command["id"]
        except (ValueError, KeyError, TypeError) as error:
            log.error("ignoring a command that is not JSON with id and type: %s", error)
            return None
        site_wide = kind in SITE_WIDE
        vm = command.get("vm")
        problem = None
        if not isinstance(kind, str) or not isinstance(command_id, str) or not command_id:
            problem = "its type and id must be text"
        elif len(command_id) > 128:
            problem = "its id is longer than 128 characters"
        elif command.get("site") != self.args.site:
            problem = f"it names site {str(command.get('site'))[:64]!r}, not {self.args.site!r}"
        elif not site_wide and (not isinstance(vm, str) or not vm or len(vm) > 128):
            problem = "it names no VM (or a VM id longer than 128 characters)"
        if problem:
            log.error("ignoring command %r: %s", str(command_id)[:128], problem)
            return None
        return command

    def _dispatch(self, command: dict[str, Any]) -> None:
        """Each kind of command to its own pool; a kind this agent does not know is refused."""
        kind = command["type"]
        if kind in REPLICATION:
            self._submit(command)
        elif kind in POWER:
            with self._lock:
                cancel = self.running.setdefault(command["id"], threading.Event())
            self.power_pool.submit(self._power_work, command, cancel)
        else:
            log.error("command %s has a type this agent does not know: %r", command["id"], kind)
            self._finish(command, "command.result", {
                "commandId": command["id"], "status": "failed", "code": "UnknownCommand",
                "cause": f"this agent (version {VERSION}) does not know commands of type "
                f"{str(kind)[:40]!r}.",
                "recommendation": "Upgrade the agent on the VMM server to a version that "
                "knows this command, then send it again.",
            })  # fmt: skip

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
                self._finish(command, *outcome)
            finally:
                with self._lock:
                    self.running.pop(command["id"], None)

    def _power_work(self, command: dict[str, Any], cancel: threading.Event) -> None:
        """A shutdown: never behind a VM's replication (that may run for hours)."""
        try:
            entry = self.journal.get(command["id"])
            if cancel.is_set() or (entry and entry.state == "cancelled") or self.stop.is_set():
                return
            self.journal.save(Entry(command, "running"))
            log.info("running %s (%s of %s)", command["id"], command["type"], command["vm"])
            known = self.inventory.known if self.inventory is not None else None
            outcome = run_shutdown(command, self.power, cancel, known=known,
                                   poll_seconds=self.args.shutdown_poll_seconds)  # fmt: skip
            if outcome is None or self.stop.is_set():
                return  # cancelled, or the daemon stops: it resumes at the next start
            self._finish(command, *outcome)
        except Exception:  # a bug: say so in the log, keep the daemon running
            log.exception("command %s failed unexpectedly", command["id"])
        finally:
            with self._lock:
                self.running.pop(command["id"], None)

    def _finish(self, command: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
        """Journal the outcome with its event, then send it (a duplicate resends this one)."""
        event = self.event(kind, data, command)
        ok = kind != "replication.failed" and data.get("status") != "failed"
        state = "done" if ok else "failed"
        self.journal.save(Entry(command, state, event))
        self.outbox.put(event)
        log.info("command %s %s", command["id"], state)

    def _report(self, type_: str, data: dict[str, Any], vm: str | None) -> None:
        """An inventory fact: kept in the outbox until Service Bus took it."""
        event = self.event(type_, data)
        if vm is not None:
            event["vm"] = vm
        self.outbox.put(event)

    def event(self, type_: str, data: dict[str, Any], command: dict[str, Any] | None = None
              ) -> dict[str, Any]:  # fmt: skip
        body = {"type": type_, "tenant": (command or {}).get("tenant") or self.tenant,
                "site": self.args.site, "id": uuid.uuid4().hex,
                "time": datetime.now(UTC).isoformat(), "data": redact_data(data)}  # fmt: skip
        if command is not None and command.get("vm"):
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
        self.power_pool.shutdown(wait=True, cancel_futures=True)
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
    for handler in logging.getLogger().handlers:  # no SAS signature reaches any log
        handler.addFilter(RedactingFilter())
    private_dir(args.state_dir)  # 0700: the journals hold SAS URLs
    daemon = Daemon(args)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        daemon.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return daemon.run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
