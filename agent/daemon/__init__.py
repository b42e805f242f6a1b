"""The agent daemon (`python -m agent run`, or `python -m agent.daemon`): one site's commands in,
events out. `service` is the process and its Service Bus loop, `work` runs one command, `bus`
is the link to Service Bus with its outbox, `journal` remembers which commands ran."""

from agent.daemon.service import main
from agent.daemon.settings import parse_args

__all__ = ["main", "parse_args"]
