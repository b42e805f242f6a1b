"""The operator's hooks the demo gives its agent daemon, written as small scripts.

- The **quiesce hook** (docs/agent.md, "App-consistent points: the quiesce hook"): the 30 s
  policy asks for an app-consistent point every hour, and without a hook the agent makes a
  crash-consistent one and the item shows a Warning (AppConsistencyProblem). The demo's "VM" is
  a disk file that no guest runs on: there is no application to flush and nothing to freeze. The
  hook says exactly that (in its log, which the demo prints) and names each disk itself as the
  image to read. On Hyper-V it would take a production checkpoint (VSS in the guest) instead, as
  docs/agent.md's sample does.
- The **shutdown hook** (docs/agent.md, "Planned failover"), standing in for Hyper-V's Stop-VM:
  `shutdown` (and `turnoff`) mark the VM off in a power-state file, `status` prints that state.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

QUIESCE = '''#!{python}
"""The demo's quiesce hook: ACTION VM_ID COMMAND_ID, the command's disks as JSON on stdin."""
import json
import sys
from datetime import datetime, timezone

action, vm, command = sys.argv[1:4]
request = json.load(sys.stdin)
if action == "freeze":
    said = (f"{{vm}} runs no guest and no application, so there is nothing to flush or "
            "freeze: each disk file is read as it is")
    print(json.dumps({{"disks": [{{"diskId": d["diskId"], "path": d["path"]}}
                                  for d in request["disks"]]}}))
else:  # thaw: nothing was frozen, nothing to merge
    said = f"{{vm}}: nothing to thaw"
now = datetime.now(timezone.utc).isoformat()[:19]
with open({log!r}, "a") as log:
    log.write(f"{{now}} {{action}} {{command}}: {{said}}\\n")
'''

SHUTDOWN = """#!/bin/sh
# The demo's shutdown hook, standing in for Hyper-V's Stop-VM: ACTION VM_ID COMMAND_ID.
cat > /dev/null
state="{dir}/$2.power"
case "$1" in
shutdown|turnoff) echo Off > "$state" ;;
status) if [ -e "$state" ]; then cat "$state"; else echo Running; fi ;;
esac
"""


@dataclass(frozen=True)
class Hooks:
    directory: Path

    @property
    def quiesce(self) -> Path:
        return self.directory / "quiesce.py"

    @property
    def quiesce_log(self) -> Path:
        return self.directory / "quiesce.log"

    @property
    def shutdown(self) -> Path:
        return self.directory / "shutdown.sh"

    def power_state(self, vm: str) -> str:
        state = self.directory / f"{vm}.power"
        return state.read_text().strip() if state.exists() else "Running"

    def quiesce_said(self) -> list[str]:
        log = self.quiesce_log
        return log.read_text().splitlines() if log.exists() else []


def write_hooks(directory: Path) -> Hooks:
    directory.mkdir(parents=True, exist_ok=True)
    hooks = Hooks(directory)
    hooks.quiesce.write_text(QUIESCE.format(python=sys.executable, log=str(hooks.quiesce_log)))
    hooks.shutdown.write_text(SHUTDOWN.format(dir=directory))
    for script in (hooks.quiesce, hooks.shutdown):
        script.chmod(0o755)
    return hooks
