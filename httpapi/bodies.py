"""Request bodies: JSON parsed into the route's model, or a 400 naming every wrong field."""

from __future__ import annotations

import json
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from domain.errors import DomainError, ErrorInfo

Model = TypeVar("Model", bound=BaseModel)


class BadRequest(DomainError):
    status = 400


def parse_body(req: func.HttpRequest, model: type[Model]) -> Model:
    """The request body as `model`, or a 400 that lists every field that is wrong."""
    raw = req.get_body() or b"{}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(
            ErrorInfo(
                code="BodyNotJson",
                cause=f"The request body is not valid JSON ({error}).",
                recommendation="Send a JSON object with Content-Type: application/json.",
            )
        ) from error
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadRequest(*validation_errors(error)) from error


def validation_errors(error: ValidationError) -> list[ErrorInfo]:
    """One ErrorInfo per wrong field, naming the field and what it must be."""
    infos = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        infos.append(
            ErrorInfo(
                code="InvalidField",
                cause=f"{where}: {item['msg']}.",
                recommendation=f"Fix '{where}' and send the request again.",
            )
        )
    return infos
