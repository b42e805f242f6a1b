"""The team's error shape: a stable code, the cause, and the fix."""

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
    def __init__(self, *errors: ErrorInfo) -> None:
        super().__init__("; ".join(f"{e.code}: {e.cause} {e.recommendation}" for e in errors))
        self.errors = errors
