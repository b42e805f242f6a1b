"""Successful answers of the runbook API: JSON built from the views in `contracts.views`.

A view is serialized with every field it declares, null included: the v1 API documents its
fields with their nulls (`"health": null`, `"endTime": null`), and runbooks read them by name.
(Messages on Service Bus leave nulls out instead; see `contracts.base.WireModel.wire`.)
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from contracts.views import JobAccepted
from domain.jobs import Job


def shown(body: Any) -> Any:
    """`body` as JSON-ready data: a view (or a list or page of views) with every field."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True)
    if isinstance(body, list):
        return [shown(item) for item in body]
    if isinstance(body, dict):
        return {key: shown(value) for key, value in body.items()}
    return body


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(shown(body), default=str),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def job_accepted(req: func.HttpRequest, job: Job, created: bool) -> func.HttpResponse:
    """202 with the job of the operation started (or joined: created false), and where to
    follow it."""
    base = req.url.split("/api/", 1)[0]
    location = f"{base}/api/tenants/{job.tenant}/jobs/{job.id}"
    body = JobAccepted.of(job, created=created, href=location)
    return json_response(body, 202, headers={"Location": location, "Retry-After": "5"})
