"""A recovery plan's runbook action: an HTTPS POST of the plan's context to the operator's URL.

The context has the shape of ASR's RecoveryPlanContext, which Azure Automation runbooks of
ASR recovery plans already read: RecoveryPlanName, FailoverType, FailoverDirection, GroupId
and VmMap (one entry per VM of the group, keyed by VM id, with the Azure VM it became). A few
fields are added (JobId, ActionName, ActionWhen, per VM ResourceId and the point's time);
nothing else is sent: no key of this API, no header but Content-Type and User-Agent.

HTTPS only, certificate checked against the system's trust store (SSL_CERT_FILE may add a
CA, as for any OpenSSL client); redirects are not followed (a 3xx is a failure), so the
context never goes anywhere but the URL the plan holds. The URL may carry a webhook's token:
errors name its host and path only.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from azureclients.arm import recovery_target
from contracts.errors import ErrorDetail
from domain.failover import FailoverType
from domain.plans import ActionWhen, runbook_url_problem
from readmodels.items import get_item

USER_AGENT = "dr-control-plane-recovery-plan/1"
_ASR_TYPES = {
    FailoverType.TEST: "Test",
    FailoverType.PLANNED: "Planned",
    FailoverType.UNPLANNED: "Unplanned",
}


class RunbookCall(BaseModel):
    tenant: str
    job_id: str  # the plan's job
    plan: str
    action: str
    url: str
    timeout_seconds: int
    group: int
    when: ActionWhen
    kind: FailoverType
    vms: list[str] = Field(default_factory=list)  # the group's


def plan_context(call: RunbookCall) -> dict[str, Any]:
    """What the runbook receives (ASR's RecoveryPlanContext and a few fields more)."""
    target = recovery_target()
    vm_map: dict[str, dict[str, Any]] = {}
    for vm in call.vms:
        item = get_item(call.tenant, vm)
        failover = item.failover if item else None
        vm_map[vm] = {
            "SubscriptionId": target.subscription,
            "ResourceGroupName": target.resource_group,
            "RoleName": failover.vm_name if failover else None,
            "ResourceId": failover.vm_id if failover else None,
            "RecoveryPointId": failover.recovery_point_id if failover else None,
            "RecoveryPointTime": failover.recovery_point_time.isoformat()
            if failover and failover.recovery_point_time
            else None,
            "SourceVmName": item.vm_name if item else vm,
            "Status": item.status if item else "NotProtected",
        }
    return {
        "RecoveryPlanName": call.plan,
        "FailoverType": _ASR_TYPES[call.kind],
        "FailoverDirection": "PrimaryToSecondary",
        "GroupId": str(call.group),
        "VmMap": vm_map,
        "JobId": call.job_id,
        "ActionName": call.action,
        "ActionWhen": call.when.value,
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is answered as it is: a failure


def _where(url: str) -> str:
    """The URL without its query (a webhook's token lives there) for errors and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def call_runbook(call: RunbookCall) -> list[ErrorDetail]:
    """POST the context; no errors when the runbook answered 2xx in time."""
    where = _where(call.url)
    problem = runbook_url_problem(call.url)
    if problem:  # the plan was checked when stored; a row changed by hand is checked again
        return [_failed("RunbookUrlRefused", f"Runbook '{call.action}': {problem}", call)]
    body = json.dumps(plan_context(call)).encode()
    request = urllib.request.Request(
        call.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )
    try:
        with opener.open(request, timeout=call.timeout_seconds) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (TimeoutError, urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if not isinstance(reason, TimeoutError):
            return [
                _failed(
                    "RunbookUnreachable",
                    f"Runbook '{call.action}' at {where} could not be reached: {reason}.",
                    call,
                )
            ]
        return [
            _failed(
                "RunbookTimedOut",
                f"Runbook '{call.action}' at {where} did not answer within "
                f"{call.timeout_seconds} s.",
                call,
            )
        ]
    if 200 <= status < 300:
        return []
    return [
        _failed(
            "RunbookFailed",
            f"Runbook '{call.action}' at {where} answered HTTP {status}.",
            call,
        )
    ]


def _failed(code: str, cause: str, call: RunbookCall) -> ErrorDetail:
    return ErrorDetail(
        code=code,
        cause=cause,
        recommendation=f"Check the runbook and its URL in plan '{call.plan}' (group "
        f"{call.group}, {call.when}); a 2xx answer within {call.timeout_seconds} s is success. "
        "Then run what it should have done by hand, or ask for the plan's operation again.",
    )
