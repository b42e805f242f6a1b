"""The agent's one error type, in the team's shape: a stable code, the cause and the fix.

The CLI prints it, the daemon sends it in `replication.failed`, and nothing is written to a
blob after one is raised for a disk.
"""

from __future__ import annotations


class AgentError(Exception):
    """A refusal the user can act on: `code` is stable, `cause` says what, `recommendation` how."""

    def __init__(self, code: str, cause: str, recommendation: str) -> None:
        super().__init__(f"{code}: {cause} {recommendation}")
        self.code = code
        self.cause = cause
        self.recommendation = recommendation

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "cause": self.cause, "recommendation": self.recommendation}


class DiskError(AgentError):
    """A disk image that cannot be read safely: missing, corrupt, unsupported, dirty log."""
