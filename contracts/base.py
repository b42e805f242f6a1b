"""The one base of every model that crosses a boundary: agent events and commands on Service
Bus, request bodies and answers (views) of the runbook API.

camelCase on the wire, snake_case in Python; unknown fields are refused (a typo in a body is
an error, and the OpenAPI document says `additionalProperties: false`); frozen, since a
message or an answer is a fact, not a work area.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict:
        """The message as it goes on Service Bus: camelCase, no None noise. (HTTP answers
        keep their nulls: see `httpapi.answers`.)"""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def of(cls, source: object, **fields: Any) -> Self:
        """The view of a stored row (or any object): the fields this model declares, read by
        name from `source`, nested views likewise; whatever else the row holds stays behind.
        `fields` gives what the row does not hold (or what is computed as it is read)."""
        data = {
            name: getattr(source, name)
            for name in cls.model_fields
            if name not in fields and hasattr(source, name)
        }
        return cls.model_validate({**data, **fields}, from_attributes=True)
