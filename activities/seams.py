"""The typed seams between orchestrators and activities.

An activity takes one input model and answers one result model; both cross the task hub as
plain JSON (`model_dump(mode="json")`), so history holds data, not Python class names, and
an orchestration in flight survives a rename. The orchestrator side is
`orchestrators.steps.call`, which validates the answer as the result model it names.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field

from contracts.errors import ErrorDetail, details
from domain.errors import DomainError


class Seam(BaseModel):
    """An activity's input or result."""

    def out(self) -> dict:
        """As it crosses the task hub: JSON-ready, snake_case."""
        return self.model_dump(mode="json")


class VmRef(Seam):
    tenant: str
    vm: str


class StepOutcome(Seam):
    """The answer of an activity that may refuse: the errors of the refusal (returned, not
    raised, since no retry can fix them); none when the step was done."""

    errors: list[ErrorDetail] = Field(default_factory=list)

    @classmethod
    def refused(cls, refusal: DomainError | list[ErrorDetail]) -> Self:
        errors = details(refusal.errors) if isinstance(refusal, DomainError) else refusal
        return cls(errors=errors)
