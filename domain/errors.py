"""The team's error shape: a stable code, the cause, and the fix.

The same shape is used in jobs, problem+json responses, dead-letter reasons and CLI messages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    cause: str
    recommendation: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class DomainError(Exception):
    """A refusal of the domain, carrying one or more ErrorInfo (the first one is the headline)."""

    def __init__(self, *errors: ErrorInfo) -> None:
        if not errors:
            raise TypeError("DomainError needs at least one ErrorInfo")
        super().__init__("; ".join(f"{e.code}: {e.cause} {e.recommendation}" for e in errors))
        self.errors = errors

    @property
    def code(self) -> str:
        return self.errors[0].code

    def to_dicts(self) -> list[dict[str, str]]:
        return [e.to_dict() for e in self.errors]
