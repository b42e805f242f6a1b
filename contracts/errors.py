"""The team's error shape on every boundary: a stable code, the cause, and the fix.

The same model carries a refusal from an activity to its orchestration, a failed step into a
job, and a reason into an item's health; `source` is added where a prerequisite's limit comes
from a support matrix, so an operator can check the number against it.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field

from contracts.base import WireModel
from domain.errors import ErrorInfo
from domain.redaction import redact

# An error's texts are kept (jobs, items) and shown: a secret one quotes is redacted.
Redacted = Annotated[str, AfterValidator(redact)]


class ErrorDetail(WireModel):
    code: str = Field(description="Stable error code to branch on.")
    cause: Redacted
    recommendation: Redacted
    source: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Where a prerequisite's limit comes from (support matrix and section).",
    )

    @classmethod
    def of_info(cls, error: ErrorInfo) -> Self:
        return cls(code=error.code, cause=error.cause, recommendation=error.recommendation)

    def info(self) -> ErrorInfo:
        """The domain's ErrorInfo (without `source`)."""
        return ErrorInfo(self.code, self.cause, self.recommendation)

    def record(self) -> dict[str, Any]:
        """As a job or read model keeps it: the shape, `source` only where there is one."""
        return self.model_dump(exclude_none=True)


def details(errors: list[ErrorInfo] | tuple[ErrorInfo, ...]) -> list[ErrorDetail]:
    return [ErrorDetail.of_info(error) for error in errors]
