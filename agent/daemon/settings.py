"""The daemon's settings: command-line options, each with the environment variable an operator
sets instead, checked at start so a typo fails loudly rather than at the first command."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agent.daemon.bus import EVENTS_QUEUE_PREFIX
from agent.daemon.paths import parse_roots
from agent.hyperv.powershell import PowerShell, default_executable
from agent.power.control import PowerControl
from agent.power.hook import HookPower
from agent.power.shutdown import POLL_SECONDS
from agent.process import executable_problem, parse_command_line
from agent.quiesce import DEFAULT_TIMEOUT_SECONDS, Hook, hook_problem, parse_hook

DESCRIPTION = "The agent daemon of one site (one VMM server)."
# A heartbeat a minute: the control plane's timeout (AGENT_HEARTBEAT_TIMEOUT_SECONDS, 180)
# then spans three, so one lost or late never raises a warning. Each costs the control plane
# an execution (billed at least a second on Flex Consumption): every 30 s was half a site's
# control-plane bill for nothing the health rules use (docs/replication.md#cost).
HEARTBEAT_SECONDS = 60.0


def _rate(text: str) -> int:
    from agent.throttle import parse_rate

    try:
        return parse_rate(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m agent run", description=DESCRIPTION)
    p.add_argument("--site", required=True, help="this VMM server's site name (its subscription)")
    p.add_argument(
        "--tenant",
        default=_env("AGENT_TENANT"),
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
        default=_env("AGENT_SERVICEBUS_CONNECTION"),
        help="Service Bus connection string (env AGENT_SERVICEBUS_CONNECTION)",
    )
    p.add_argument(
        "--namespace",
        default=_env("AGENT_SERVICEBUS_NAMESPACE"),
        help="or: NS.servicebus.windows.net with Entra ID (env AGENT_SERVICEBUS_NAMESPACE)",
    )
    p.add_argument(
        "--events-queue",
        default=_env("AGENT_EVENTS_QUEUE"),
        help="the site's own events queue, the only one it may send to (default "
        "agent-events-SITE, as infra/ names it; env AGENT_EVENTS_QUEUE)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=int(_env("AGENT_WORKERS", "4") or 4),
        help="VMs replicated at once (default 4; env AGENT_WORKERS)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=int(_env("AGENT_CONCURRENCY", "8") or 8),
        help="requests in flight per disk, at most (a command may ask fewer; default 8; env "
        "AGENT_CONCURRENCY)",
    )
    p.add_argument(
        "--bandwidth",
        type=_rate,
        default=_env("AGENT_BANDWIDTH"),
        help="the site's cap on upload bandwidth, shared by all transfers, until the control "
        "plane sets one with a bandwidth command, e.g. 50MB/s (default: none; env "
        "AGENT_BANDWIDTH)",
    )
    p.add_argument(
        "--heartbeat-seconds",
        type=float,
        default=HEARTBEAT_SECONDS,
        help=f"how often the agent says it is alive (default {HEARTBEAT_SECONDS:g})",
    )
    p.add_argument(
        "--progress-seconds",
        type=float,
        default=2.0,
        help="at most one progress event per VM this often (default 2)",
    )
    p.add_argument(
        "--quiesce-hook",
        default=_env("AGENT_QUIESCE_HOOK"),
        help="executable (or command line) that freezes a VM for app-consistent points, e.g. "
        "a Hyper-V production checkpoint script; see docs/agent.md (env AGENT_QUIESCE_HOOK)",
    )
    p.add_argument(
        "--quiesce-timeout",
        type=float,
        default=float(_env("AGENT_QUIESCE_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS),
        help="seconds a freeze or thaw may take before it is stopped (default 120; "
        "env AGENT_QUIESCE_TIMEOUT_SECONDS)",
    )
    p.add_argument(
        "--hyperv",
        choices=("vmm", "host", "off"),
        default=_env("AGENT_HYPERV", "off"),
        help="reach VMs through System Center VMM (vmm), a Hyper-V host without VMM (host), or "
        "not at all (off, the default); drives inventory, shutdown and RCT (env AGENT_HYPERV)",
    )
    p.add_argument(
        "--vmm-server",
        default=_env("AGENT_VMM_SERVER", "localhost"),
        help="the VMM management server to connect to (default localhost; env AGENT_VMM_SERVER)",
    )
    p.add_argument(
        "--powershell",
        default=_env("AGENT_POWERSHELL", default_executable()),
        help="the PowerShell to run the agent's scripts with (default powershell.exe on "
        "Windows, pwsh elsewhere; env AGENT_POWERSHELL)",
    )
    p.add_argument(
        "--allowed-disk-roots",
        default=_env("AGENT_ALLOWED_DISK_ROOTS"),
        help="the only folders disks are read from, separated by "
        f"{os.pathsep!r} (e.g. the VMs' cluster shared volumes); a command naming a disk "
        "elsewhere is refused (env AGENT_ALLOWED_DISK_ROOTS)",
    )
    p.add_argument(
        "--inventory-seconds",
        type=float,
        default=float(_env("AGENT_INVENTORY_SECONDS", "60") or 60),
        help="how often VMM (or the host) is read for changes (default 60; env "
        "AGENT_INVENTORY_SECONDS)",
    )
    p.add_argument(
        "--snapshot-seconds",
        type=float,
        default=float(_env("AGENT_INVENTORY_SNAPSHOT_SECONDS", "900") or 900),
        help="how often every cloud's full list is sent (default 900; env "
        "AGENT_INVENTORY_SNAPSHOT_SECONDS)",
    )
    p.add_argument(
        "--shutdown-hook",
        default=_env("AGENT_SHUTDOWN_HOOK"),
        help="executable that shuts a VM down for a planned failover (shutdown|status|turnoff "
        "VM_ID COMMAND_ID); preferred over --hyperv when set (env AGENT_SHUTDOWN_HOOK)",
    )
    p.add_argument(
        "--power-state-hook",
        default=_env("AGENT_POWER_STATE_HOOK"),
        help="executable that answers `status VM_ID COMMAND_ID` with the power state, instead "
        "of the shutdown hook (env AGENT_POWER_STATE_HOOK)",
    )
    p.add_argument(
        "--shutdown-poll-seconds",
        type=float,
        default=POLL_SECONDS,
        help=argparse.SUPPRESS,  # how often a shutdown reads the power state (tests go faster)
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    args.events_queue = args.events_queue or f"{EVENTS_QUEUE_PREFIX}{args.site}"
    if not args.connection and not args.namespace:
        p.error(
            "no Service Bus to talk to. Fix: set AGENT_SERVICEBUS_CONNECTION (or pass "
            "--connection), or AGENT_SERVICEBUS_NAMESPACE for Entra ID."
        )
    if args.workers < 1 or args.heartbeat_seconds <= 0 or args.progress_seconds < 0:
        p.error("--workers must be ≥ 1 and --heartbeat-seconds > 0.")
    if args.quiesce_timeout <= 0:
        p.error("--quiesce-timeout must be > 0 seconds.")
    if args.shutdown_poll_seconds <= 0 or args.inventory_seconds <= 0:
        p.error("--shutdown-poll-seconds and --inventory-seconds must be > 0.")
    if args.hyperv != "off" and not args.tenant:
        p.error(
            "--hyperv reports the inventory, which names the tenant. Fix: set AGENT_TENANT "
            "(or pass --tenant)."
        )
    try:
        args.allowed_roots = parse_roots(args.allowed_disk_roots)
    except ValueError as error:
        p.error(f"{error}. Fix: set AGENT_ALLOWED_DISK_ROOTS to existing folders.")
    args.quiesce_argv = parse_hook(args.quiesce_hook) if args.quiesce_hook else None
    if args.quiesce_argv is not None and (problem := hook_problem(args.quiesce_argv)):
        p.error(
            f"{problem} Fix: set AGENT_QUIESCE_HOOK (or --quiesce-hook) to the hook's "
            "path, or unset it for crash-consistent points only."
        )
    for option, env, what in (
        ("shutdown_hook", "AGENT_SHUTDOWN_HOOK", "shutdown hook"),
        ("power_state_hook", "AGENT_POWER_STATE_HOOK", "power state hook"),
        ("powershell", "AGENT_POWERSHELL", "PowerShell"),
    ):
        value = getattr(args, option)
        argv_ = parse_command_line(value) if value else None
        setattr(args, f"{option}_argv", argv_)
        if option == "powershell" and args.hyperv == "off":
            continue  # not used: no need to find it
        if argv_ is not None and (problem := executable_problem(argv_, what)):
            p.error(f"{problem} Fix: set {env} to its path, or unset it.")
    return args


def quiesce_hook(args: argparse.Namespace) -> Hook | None:
    """The operator's quiesce hook, or None: then every point is crash-consistent."""
    if args.quiesce_argv is None:
        return None
    return Hook(args.quiesce_argv, args.quiesce_timeout, args.state_dir)


def powershell(args: argparse.Namespace) -> PowerShell | None:
    """How to reach VMM or Hyper-V, or None when the agent does not (`--hyperv off`)."""
    if args.hyperv == "off":
        return None
    return PowerShell(args.powershell_argv, source=args.hyperv, vmm_server=args.vmm_server)


def power_control(args: argparse.Namespace) -> PowerControl | None:
    """The operator's shutdown hook when set, else VMM or Hyper-V; None: shutdown refused."""
    if args.shutdown_hook_argv is not None:
        return HookPower(args.shutdown_hook_argv, args.power_state_hook_argv)
    shell = powershell(args)
    if shell is None:
        return None
    from agent.hyperv.power import HyperVPower

    return HyperVPower(shell)
