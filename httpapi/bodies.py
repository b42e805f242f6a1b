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


# Every body of the API is a flat object; a deep one would only exhaust the parser's stack.
MAX_DEPTH = 32


def nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw` (brackets inside strings do not count),
    without parsing it: the parser recurses once per level. 0 for a body that has too few
    brackets to be deeper than MAX_DEPTH."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return 0  # cannot be too deep: not worth the scan
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def parse_body(req: func.HttpRequest, model: type[Model]) -> Model:
    """The request body as `model`, or a 400 that lists every field that is wrong."""
    raw = req.get_body() or b"{}"
    if (depth := nesting_depth(raw)) > MAX_DEPTH:
        raise BadRequest(
            ErrorInfo(
                code="BodyTooDeep",
                cause=f"The request body nests arrays and objects {depth} deep; the API reads "
                f"at most {MAX_DEPTH}.",
                recommendation="Send the documented body: a flat JSON object.",
            )
        )
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
