"""The base of every wire model: camelCase on the wire, strict about unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict:
        """The JSON-ready dict as it goes on the wire (camelCase, no None noise)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
