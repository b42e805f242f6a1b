"""The site's one bandwidth cap, as the daemon keeps it: shared, persisted, on schedule.

Every transfer the daemon runs takes its bytes from one token bucket (`bucket`), so four
transfers together hold the cap that one would. A `bandwidth` command (site-wide: session id =
the site) replaces the setting: it is written to `<state>/daemon/bandwidth.json` before it is
answered, so a restart keeps it, and applied at once (waiting transfers slow down or speed up
on the spot). A thread re-reads the schedule every few seconds. Commands arrive in order on the
site's session; one older than the setting in force (a resend of an old one) is refused
rather than undo a newer one. `<state>/daemon/bandwidth-usage.json` says what the bucket let
through, for an operator (and the tests) to see the cap held.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.bandwidth import Setting, parse_setting, setting_to_wire
from agent.errors import AgentError
from agent.private import write_private
from agent.throttle import TokenBucket

log = logging.getLogger("agent.daemon")
TICK_SECONDS = 1.0


class SiteBandwidth:
    def __init__(self, state_dir: Path, default_rate: int | None, stop: threading.Event) -> None:
        self.path = state_dir / "daemon" / "bandwidth.json"
        self.usage_path = state_dir / "daemon" / "bandwidth-usage.json"
        self.stop = stop
        self.bucket = TokenBucket(None)
        self.setting = Setting(default_rate)
        self.sent: datetime | None = None  # when the control plane sent the setting in force
        self.command_id: str | None = None
        self._lock = threading.Lock()
        self._load()
        self.apply()
        self.thread = threading.Thread(target=self._run, name="bandwidth", daemon=True)

    def _load(self) -> None:
        """The setting a previous run was given; a missing or damaged file keeps the default."""
        try:
            saved = json.loads(self.path.read_text())
            self.setting = parse_setting(saved["setting"])
            self.sent = datetime.fromisoformat(saved["sent"])
            self.command_id = saved.get("commandId")
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError, AgentError) as error:
            log.error(
                "ignoring %s (%s): the default cap applies until the control plane "
                "sends the site's setting again",
                self.path,
                error,
            )

    def apply(self, now: datetime | None = None) -> int | None:
        """Put the cap in force now into the bucket; returns it."""
        with self._lock:
            rate = self.setting.rate_at(now or datetime.now(UTC))
            if rate != self.bucket.rate:
                log.info("site bandwidth cap: %s", "none" if rate is None else f"{rate} bytes/s")
                self.bucket.set_rate(rate)
            return rate

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """A `bandwidth` command → its `command.result` data."""
        cid = str(command["id"])
        try:
            setting = parse_setting(command.get("data"))
            sent = _time(command.get("time"))
            with self._lock:
                if self.sent is not None and sent < self.sent:
                    raise AgentError(
                        "BandwidthSuperseded",
                        f"this setting was sent at {sent.isoformat()}, before the one in force "
                        f"(command {self.command_id}, sent at {self.sent.isoformat()}).",
                        "Nothing changed. Send the setting again if it is the one wanted.",
                    )
                write_private(
                    self.path,
                    json.dumps(
                        {
                            "commandId": cid,
                            "sent": sent.isoformat(),
                            "setting": setting_to_wire(setting),
                        }
                    ),
                )
                self.setting, self.sent, self.command_id = setting, sent, cid
        except AgentError as error:
            return {"commandId": cid, "status": "failed", **error.to_dict()}
        rate = self.apply()
        return {
            "commandId": cid,
            "status": "succeeded",
            "detail": "cap in force: " + ("none" if rate is None else f"{rate} bytes/s"),
        }

    def usage(self) -> dict[str, Any]:
        b = self.bucket
        return {
            "capBytesPerSecond": b.rate,
            "grantedBytes": b.granted,
            "users": b.users,
            "peakUsers": b.peak_users,
            "time": datetime.now(UTC).isoformat(),
        }

    def _run(self) -> None:
        last = None
        while not self.stop.wait(TICK_SECONDS):
            self.apply()
            now = self.usage()
            if last is None or {k: v for k, v in now.items() if k != "time"} != last:
                write_private(self.usage_path, json.dumps(now))
                last = {k: v for k, v in now.items() if k != "time"}


def _time(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise AgentError(
            "BadCommand",
            "the bandwidth command's time is not an ISO 8601 time.",
            "The cap in force was kept. Send the command with its time.",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
