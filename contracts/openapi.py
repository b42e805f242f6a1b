"""The OpenAPI 3.1 document of the runbook API, built from the same models the code uses.

Routes are declared once here; a test checks that the app's HTTP functions and this list
agree, so the document cannot drift from what the app serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail", "cause", "recommendation"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable error code."},
        "detail": {"type": "string"},
        "cause": {"type": "string"},
        "recommendation": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorInfo"}},
    },
}
ERROR_INFO = {
    "type": "object",
    "required": ["code", "cause", "recommendation"],
    "properties": {
        "code": {"type": "string"},
        "cause": {"type": "string"},
        "recommendation": {"type": "string"},
        "source": {"type": "string", "description": "Where a prerequisite's limit comes from."},
    },
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # without the /api prefix, e.g. /tenants/{tenant}/vms
    summary: str
    function: str  # the app function that serves it
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    list_of: bool = False  # response is a page of `response`
    status: int = 200
    auth: bool = True
    query: dict[str, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # other problem statuses it returns


def document(routes: list[Route], *, title: str, version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM, "ErrorInfo": ERROR_INFO}
    paths: dict[str, Any] = {}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": route.function,
            "summary": route.summary,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(route.path)
            ]
            + [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": text,
                }
                for name, text in route.query.items()
            ],
            "responses": _responses(route, schemas),
        }
        if route.request is not None:
            op["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": _ref(route.request, schemas)}},
            }
        if route.auth:
            op["security"] = [{"functionKey": []}]
        else:
            op["security"] = []
        paths.setdefault("/api" + route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}
            },
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _ref(
    model: type[BaseModel], schemas: dict[str, Any], mode: str = "validation"
) -> dict[str, str]:
    """The model's schema under components (requests as validated, responses as serialized:
    they differ where a field has a default)."""
    schema = model.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}", mode=mode
    )
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _responses(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = {}
    if route.response is not None:
        body = _ref(route.response, schemas, "serialization")
        if route.list_of:
            body = {
                "type": "object",
                "required": ["value"],
                "properties": {
                    "value": {"type": "array", "items": body},
                    "nextLink": {
                        "type": "string",
                        "description": "The next page (same filters); absent on the last.",
                    },
                },
            }
        responses[str(route.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": body}},
        }
    else:
        responses[str(route.status)] = {"description": "OK"}
    if route.request is not None:
        responses["400"] = {"description": "The body is not valid.", "content": problem}
    if route.list_of:
        responses["400"] = {"description": "Bad top or continuationToken.", "content": problem}
    if route.auth:
        # The Functions host refuses a request without a valid key before the app runs; the
        # console's page, anonymous at the host, answers it itself (with its key form).
        responses["401"] = {"description": "No valid key."}
        if route.path.startswith("/tenants/"):
            responses["403"] = {"description": "The key is not this tenant's.", "content": problem}
    if _path_params(route.path)[1:]:
        responses["404"] = {"description": "Not found.", "content": problem}
    for status, text in route.errors.items():
        responses[str(status)] = {"description": text, "content": problem}
    if route.path.startswith("/tenants/"):
        responses["500"] = {"description": "The control plane failed.", "content": problem}
    return responses


def find_operation(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict] | None:
    """The documented (template, operation) that serves `method path` (path with /api)."""
    for template, operations in doc["paths"].items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return template, operations[method.lower()]
    return None


def response_schema(operation: dict[str, Any], status: int, content_type: str) -> dict | None:
    """The schema a response must match; KeyError when the status or type is undocumented."""
    response = operation["responses"][str(status)]
    content = response.get("content")
    if content is None:
        return None
    return content[content_type.split(";", 1)[0].strip()]["schema"]
