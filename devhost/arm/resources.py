"""What every provider's handlers share: ids from the path, ARM's 404s, list pages, bodies.

Bodies are shaped from the REST specs' example files (the `responses` of each operation):
`id`, `name`, `type`, `location`, `tags` and `properties`, with `provisioningState` inside
`properties`. Status codes are exactly those the spec lists per operation; the SDK refuses
any other.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devhost.arm.errors import ArmError
from devhost.arm.ids import ResourceId
from devhost.arm.server import Call, StandIn

TRANSIENT = {"Creating", "Updating", "Deleting"}


def path_id(call: Call, namespace: str, *types: str) -> ResourceId:
    """The resource the path names: its types in order, names from `name`, `child`."""
    names = [call.params["name"]]
    if "child" in call.params:
        names.append(call.params["child"])
    return ResourceId.build(
        call.params["subscription"], call.group, namespace, *zip(types, names, strict=True)
    )


def not_found(rid: ResourceId) -> ArmError:
    if rid.parent is None:
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{rid.type.rsplit('/', 1)[0]}/{rid.types[-1]}/{rid.name}' under "
            f"resource group '{rid.resource_group}' was not found. For more details please go "
            "to https://aka.ms/ARMResourceNotFoundFix",
        )
    return ArmError(404, "NotFound", f"Resource {rid} not found.")


def existing(standin: StandIn, rid: ResourceId) -> dict:
    body = standin.store.get(rid.key)
    if body is None:
        raise not_found(rid)
    return body


def body_object(call: Call) -> dict:
    if not isinstance(call.body, dict):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: a JSON object is "
            "required.",
        )
    return call.body


def answer(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers=headers or {},
    )


def page(values: list[dict]) -> web.Response:
    """A list response: the whole list on one page (the SDK follows nextLink when present)."""
    return web.json_response({"value": values})


def set_state(standin: StandIn, rid: ResourceId, state: str, **properties: Any) -> dict | None:
    """Set provisioningState (and other properties) of a resource, if it still exists."""
    with standin.store.transaction():
        body = standin.store.get(rid.key)
        if body is None:
            return None
        body["properties"]["provisioningState"] = state
        body["properties"].update(properties)
        standin.store.put(rid.key, rid.resource_group, rid.type, body)
        return body


def fail_interrupted(standin: StandIn, types: tuple[str, ...]) -> None:
    """After a restart: a resource left Creating/Updating/Deleting by an interrupted operation
    is Failed, as Azure leaves it after a failed operation (a PUT again repairs it)."""
    for type_ in types:
        for body in standin.store.all_of_type(type_):
            if body.get("properties", {}).get("provisioningState") in TRANSIENT:
                set_state(standin, ResourceId.parse(body["id"]), "Failed")
