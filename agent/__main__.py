"""`python -m agent`: inspect a disk, replicate it to its page blob, sync deltas, or run the
daemon. Each command ends with one clear message on failure and a non-zero exit code.

  python -m agent inspect DISK [--json]
  python -m agent replicate DISK --to SAS_URL [--concurrency N] [--bandwidth 50MB/s]
                            [--state-dir DIR] [--block-size 1MiB] [--restart | --resync] [--json]
  python -m agent sync DISK --to SAS_URL [--rct ranges.json] [--block-size 1MiB] [--json]
  python -m agent run ...          (the daemon; see `python -m agent run --help`)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.errors import AgentError

EXIT_ERROR = 1
EXIT_CANCELLED = 130


def default_state_dir() -> Path:
    """Where journals and manifests live unless --state-dir says otherwise."""
    if env := os.environ.get("DR_AGENT_STATE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dr-agent"


def _size(text: str) -> int:
    from agent.throttle import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> int:
    from agent.throttle import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m agent",
        description="Inspect a disk, replicate it to its page blob, sync deltas, run the daemon.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    ins = sub.add_parser("inspect", help="format, sizes, allocation and parent chain of a disk")
    ins.add_argument("disk", type=Path)
    ins.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def transfer(name: str, help_: str) -> argparse.ArgumentParser:
        t = sub.add_parser(name, help=help_)
        t.add_argument("disk", type=Path)
        t.add_argument("--to", required=True, metavar="SAS_URL", help="the page blob's SAS URL")
        t.add_argument("--concurrency", type=int, default=8, help="parallel requests (8)")
        t.add_argument("--bandwidth", type=_rate, help="cap, e.g. 50MB/s or 800KiB/s")
        t.add_argument("--state-dir", type=Path, default=None, help="journal and manifests")
        t.add_argument("--block-size", type=_size, default=None, help="hash block (1MiB)")
        t.add_argument("--checksum", choices=("auto", "crc64", "md5"), default="auto")
        t.add_argument("--json", action="store_true", help="JSON lines on stdout")
        return t

    rep = transfer("replicate", "initial replication (resumes where an earlier run stopped)")
    mode = rep.add_mutually_exclusive_group()
    mode.add_argument("--restart", action="store_true", help="start over if the source changed")
    mode.add_argument("--resync", action="store_true", help="compare with the blob, send diffs")
    syn = transfer("sync", "send what changed since the last cycle")
    syn.add_argument("--rct", type=Path, help='JSON list of {"offset","length"} changed ranges')

    run = sub.add_parser("run", help="the agent daemon", add_help=False)
    run.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _inspect(args: argparse.Namespace) -> dict[str, Any]:
    from agent.disks import open_disk
    from agent.footer import blob_size

    with open_disk(args.disk) as disk:
        info = disk.info()
        out = asdict(info)
        out["path"] = str(info.path)
        out["chain"] = [str(p) for p in info.chain]
        out["replica_blob_size"] = blob_size(info.virtual_size)
    if not args.json:
        from agent.progress import human

        lines = [
            f"{out['path']}: {info.format} ({info.subformat})",
            f"  virtual size   {info.virtual_size} ({human(info.virtual_size)})",
            f"  sectors        logical {info.logical_sector_size}, "
            f"physical {info.physical_sector_size}",
            f"  block size     {info.block_size if info.block_size else '-'}",
            f"  allocated      {info.allocated_bytes} ({human(info.allocated_bytes)})",
            f"  replica blob   {out['replica_blob_size']} bytes (page blob, fixed VHD)",
            "  chain          " + " -> ".join(out["chain"]),
        ]
        print("\n".join(lines))
    return out


def _transfer(args: argparse.Namespace, cancel: threading.Event) -> dict[str, Any]:
    from agent.progress import Bar, JsonLines
    from agent.transfer import TransferOptions, replicate, sync

    options = TransferOptions(concurrency=args.concurrency, bandwidth_bytes_per_s=args.bandwidth,
                              checksum=args.checksum)  # fmt: skip
    if args.block_size:
        options.hash_block_bytes = args.block_size
    state = args.state_dir or default_state_dir()
    progress = JsonLines(sys.stdout) if args.json else Bar(sys.stderr)
    common: dict[str, Any] = {"state_dir": state, "options": options, "on_progress": progress,
                              "cancel": cancel}  # fmt: skip
    if args.command == "replicate":
        result = replicate(args.disk, args.to, resync=args.resync, restart=args.restart, **common)
    else:
        ranges = _load_rct(args.rct) if args.rct else None
        result = sync(args.disk, args.to, rct_ranges=ranges, **common)
    out = asdict(result)
    if not args.json:
        from agent.progress import human

        print(
            f"{result.mode}: sent {human(result.bytes_sent)}, cleared "
            f"{human(result.bytes_cleared)} in {result.seconds:.1f} s "
            f"({result.requests} requests); manifest {result.manifest_digest[:16]}"
        )
    return out


def _load_rct(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AgentError(
            "BadChangedRanges", f"{path} does not exist.", "Pass the RCT ranges file exported "
            "for this cycle, or omit --rct to compare block hashes."
        ) from None  # fmt: skip
    except (ValueError, UnicodeDecodeError) as exc:
        raise AgentError(
            "BadChangedRanges", f"{path} is not JSON ({exc}).",
            'Write a JSON list of {"offset": int, "length": int} objects.',
        ) from None  # fmt: skip


def _run_daemon(rest: list[str]) -> int:
    try:
        from agent import daemon
    except ImportError:
        raise AgentError(
            "DaemonMissing",
            "this build of the agent has no daemon package (agent/daemon/).",
            "Use the one-shot commands (replicate, sync), or install a build with the daemon.",
        ) from None
    return int(daemon.main(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # the daemon parses its own options (argparse would eat them here)
        try:
            return _run_daemon(argv[1:])
        except AgentError as err:
            print(f"\nerror {err.code}: {err.cause}\n  fix: {err.recommendation}", file=sys.stderr)
            return EXIT_ERROR
    args = _parser().parse_args(argv)
    as_json = getattr(args, "json", False)
    cancel = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        cancel.set()  # the engine saves its journal and raises Cancelled

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        out = _inspect(args) if args.command == "inspect" else _transfer(args, cancel)
    except AgentError as err:
        if as_json:
            print(json.dumps({"event": "error", **err.to_dict()}), flush=True)
        print(f"\nerror {err.code}: {err.cause}\n  fix: {err.recommendation}", file=sys.stderr)
        return EXIT_CANCELLED if err.code == "Cancelled" else EXIT_ERROR
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if as_json:
        print(json.dumps({"event": "result", **out}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
