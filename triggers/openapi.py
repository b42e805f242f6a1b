"""GET /api/openapi.json: the runbook API's OpenAPI document, from the models the code uses.

Every HTTP function of the app is declared here once; tests check both ways that the app
serves exactly these routes, and that the answers of the end-to-end calls match the schemas.
One function is declared apart, in NOT_IN_DOCUMENT: the signed-in console's door to these
same routes, which is not a route of the runbook API.
"""

from __future__ import annotations

import azure.functions as func

from contracts.api import (
    AutoFailoverRuleRequest,
    DisableProtectionRequest,
    EnableProtectionRequest,
    FailbackRequest,
    FailoverRequest,
    OpenApiDocument,
    PlanFailoverRequest,
    PreflightRequest,
    RecoveryPointRequest,
    SiteBandwidthRequest,
)
from contracts.openapi import Route, document
from contracts.plans import DrillReportView, RecoveryPlanRequest, RecoveryPlanView
from contracts.views import (
    AutoFailoverRuleView,
    HealthReport,
    JobAccepted,
    JobView,
    PreflightReport,
    ReplicatedItemDetail,
    ReplicatedItemView,
    SiteBandwidthView,
    VmView,
)
from httpapi.answers import json_response
from httpapi.runbook_routes import RunbookBlueprint

bp = RunbookBlueprint()

PAGING = {"top": "Page size, 1-1000 (default 100).", "continuationToken": "From nextLink."}
BUSY = "The VM is busy with another operation (OperationInProgress)."
PLAN = "/tenants/{tenant}/recovery-plans/{plan}"
RULE_NAME = "The rule's name is not a name (InvalidRuleName)."
NOT_READY = (
    "A VM of the plan does not allow it now (RecoveryPlanNotReady: errors name each "
    "VM and its status; nothing was started), or the plan runs another operation "
    "(RecoveryPlanBusy)."
)
AFTER_ERRORS = {
    404: "The VM was never protected (ReplicatedItemNotFound).",
    409: f"Not allowed in the VM's status (OperationNotAllowed). {BUSY}",
}

ROUTES: list[Route] = [
    Route("GET", "/health", "Liveness and dependencies (no key needed).", "health",
          response=HealthReport, auth=False, errors={503: "A dependency is unavailable."}),
    Route("GET", "/openapi.json", "This document.", "openapi", response=OpenApiDocument),
    Route("GET", "/tenants/{tenant}/vms", "Discovered VMs with protection status.",
          "api_list_vms", response=VmView, list_of=True, query=PAGING),
    Route("POST", "/tenants/{tenant}/vms/{vm}/preflight",
          "Run every prerequisite check; nothing is changed.", "api_preflight",
          request=PreflightRequest, response=PreflightReport),
    Route("POST", "/tenants/{tenant}/vms/{vm}/protection", "Enable protection.",
          "api_enable_protection", request=EnableProtectionRequest, response=JobAccepted,
          status=202, errors={409: f"Already protected (AlreadyProtected). {BUSY}"}),
    Route("DELETE", "/tenants/{tenant}/vms/{vm}/protection", "Disable protection.",
          "api_disable_protection", request=DisableProtectionRequest, response=JobAccepted,
          status=202,
          errors={409: f"Not protected (NotProtected), or not now (IllegalTransition). {BUSY}"}),
    Route("GET", "/tenants/{tenant}/replicated-items", "Protected VMs and their replication.",
          "api_list_replicated_items", response=ReplicatedItemView, list_of=True, query=PAGING),
    Route("GET", "/tenants/{tenant}/replicated-items/{vm}",
          "Status, health, progress, RPO and recovery points of one VM.",
          "api_get_replicated_item", response=ReplicatedItemDetail),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failover",
          "Fail over: test (isolated, replication untouched), planned (shut down, final "
          "sync, no data loss) or unplanned (from the chosen point at once).", "api_failover",
          request=FailoverRequest, response=JobAccepted, status=202,
          errors={404: "The VM was never protected (ReplicatedItemNotFound).",
                  409: f"Not allowed in the VM's status (OperationNotAllowed), or the point "
                       f"does not exist (RecoveryPointNotFound, NoAppConsistentPoint). {BUSY}"}),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failover/cleanup",
          "End a test failover: delete exactly what it made; the VM is Protected again.",
          "api_failover_cleanup", response=JobAccepted, status=202, errors=AFTER_ERRORS),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failover/commit",
          "Commit a failover: the Azure VM is the VM from now on; replication has ended.",
          "api_failover_commit", response=JobAccepted, status=202, errors=AFTER_ERRORS),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failover/cancel",
          "Cancel a failover not yet committed: delete the Azure VM, replicate again.",
          "api_failover_cancel", response=JobAccepted, status=202, errors=AFTER_ERRORS),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failover/recovery-point",
          "Rebuild the failed-over VM from another recovery point.",
          "api_failover_recovery_point", request=RecoveryPointRequest, response=JobAccepted,
          status=202, errors=AFTER_ERRORS),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failback",
          "Fail a committed VM back on premises (provider asr): its Azure changes are "
          "copied home, the Azure VM stops and the on-premises VM starts.", "api_failback",
          request=FailbackRequest, response=JobAccepted, status=202,
          errors={**AFTER_ERRORS, 409: f"Not allowed in the VM's status (OperationNotAllowed), "
                  f"or not by its provider (OperationNotOfferedByProvider). {BUSY}"}),
    Route("POST", "/tenants/{tenant}/vms/{vm}/failback/commit",
          "Commit a failback: the on-premises VM is the VM again; Site Recovery removes what "
          "the failover made in Azure.", "api_failback_commit", response=JobAccepted,
          status=202, errors=AFTER_ERRORS),
    Route("POST", "/tenants/{tenant}/vms/{vm}/reprotect",
          "Reverse replication after a committed failback: the VM replicates to Azure again "
          "and is Protected.", "api_reprotect", response=JobAccepted, status=202,
          errors=AFTER_ERRORS),
    Route("PUT", "/tenants/{tenant}/sites/{site}/bandwidth",
          "Set the site's one bandwidth cap (and schedule), shared by all its agent's "
          "transfers; the agent applies it at once.", "api_set_site_bandwidth",
          request=SiteBandwidthRequest, response=SiteBandwidthView, status=202,
          errors={404: "No agent of the site has reported yet (SiteNotFound)."}),
    Route("GET", "/tenants/{tenant}/sites/{site}/bandwidth",
          "The site's bandwidth setting and whether its agent applied it.",
          "api_get_site_bandwidth", response=SiteBandwidthView,
          errors={404: "No setting was sent to the site (BandwidthNotSet)."}),
    Route("GET", "/tenants/{tenant}/jobs", "Jobs, newest first.", "api_list_jobs",
          response=JobView, list_of=True,
          query={**PAGING, "state": "Filter by state, e.g. Failed.",
                 "target": "Filter by VM id."}),
    Route("GET", "/tenants/{tenant}/jobs/{job}", "One job with steps and errors.",
          "api_get_job", response=JobView),
    Route("POST", "/tenants/{tenant}/jobs/{job}/approve",
          "Approve a job that waits for approval (an auto-failover decision, a plan's manual "
          "action); the job goes on.", "api_approve_job", response=JobAccepted, status=202,
          errors={409: "The job does not wait for approval now (JobNotAwaitingApproval)."}),
    Route("POST", "/tenants/{tenant}/jobs/{job}/reject",
          "Reject a job that waits for approval; it stands down.", "api_reject_job",
          response=JobAccepted, status=202,
          errors={409: "The job does not wait for approval now (JobNotAwaitingApproval)."}),
    Route("PUT", "/tenants/{tenant}/auto-failover-rules/{rule}",
          "Create or replace an auto-failover rule: what alert fails over which plan, with "
          "which safeguards (a new rule runs as a dry run until its mode is active).",
          "api_put_auto_failover_rule", request=AutoFailoverRuleRequest,
          response=AutoFailoverRuleView),
    Route("GET", "/tenants/{tenant}/auto-failover-rules/{rule}", "One auto-failover rule.",
          "api_get_auto_failover_rule", response=AutoFailoverRuleView,
          errors={400: RULE_NAME, 404: "No such rule (AutoFailoverRuleNotFound)."}),
    Route("DELETE", "/tenants/{tenant}/auto-failover-rules/{rule}",
          "Delete a rule; a decision under way stands down at its next look.",
          "api_delete_auto_failover_rule", status=204,
          errors={400: RULE_NAME, 404: "No such rule (AutoFailoverRuleNotFound)."}),
    Route("GET", "/tenants/{tenant}/auto-failover-rules", "The tenant's auto-failover rules.",
          "api_list_auto_failover_rules", response=AutoFailoverRuleView, list_of=True,
          query=PAGING),
    Route("GET", "/tenants/{tenant}/recovery-plans", "Recovery plans.",
          "api_list_recovery_plans", response=RecoveryPlanView, list_of=True, query=PAGING),
    Route("PUT", PLAN, "Create or replace a recovery plan: groups of VMs in failover order "
          "(at most 100 VMs), each with manual and runbook actions before and after it.",
          "api_put_recovery_plan", request=RecoveryPlanRequest, response=RecoveryPlanView,
          errors={400: "Not a valid plan (InvalidField, RecoveryPlanInvalid: every reason)."}),
    Route("GET", PLAN, "A recovery plan, its VMs' statuses, its drills and its health.",
          "api_get_recovery_plan", response=RecoveryPlanView),
    Route("DELETE", PLAN, "Delete a recovery plan (its VMs are not touched).",
          "api_delete_recovery_plan", status=204,
          errors={409: "The plan runs an operation (RecoveryPlanBusy)."}),
    Route("POST", PLAN + "/failover", "Fail the plan over: groups in order, the VMs of a group "
          "in parallel, with the group's actions.", "api_recovery_plan_failover",
          request=PlanFailoverRequest, response=JobAccepted, status=202,
          errors={409: NOT_READY}),
    Route("POST", PLAN + "/commit", "Commit the plan's failed-over VMs.",
          "api_recovery_plan_commit", response=JobAccepted, status=202,
          errors={409: NOT_READY}),
    Route("POST", PLAN + "/cleanup", "End the plan's test failover: clean up each VM's.",
          "api_recovery_plan_cleanup", response=JobAccepted, status=202,
          errors={409: NOT_READY}),
    Route("POST", PLAN + "/drill", "A drill: test failover of the plan, every disk proven "
          "against its point, cleanup confirmed, a report.", "api_recovery_plan_drill",
          response=JobAccepted, status=202, errors={409: NOT_READY}),
    Route("GET", PLAN + "/drills", "The plan's drills, newest first.", "api_list_drills",
          response=DrillReportView, list_of=True, query=PAGING),
    Route("GET", PLAN + "/drills/{drill}", "A drill's report.", "api_get_drill",
          response=DrillReportView),
    Route("GET", PLAN + "/drills/{drill}/report", "A drill's report as an HTML page.",
          "api_drill_report_page"),
    Route("GET", "/console", "The operator console: an HTML page that reads this API with the key "
          "in x-functions-key (open it once with ?code=<key>), or in Azure with the Entra "
          "sign-in alone (see docs/console.md).", "console_page"),
]  # fmt: skip

# HTTP functions the app serves that are not operations of this document, and why.
NOT_IN_DOCUMENT = {
    "console_api": "/api/console/api/{*rest}: the operator console's door to the routes above "
    "when signed in with Entra ID in Azure (triggers/console_api.py); it answers only a "
    "sign-in App Service authentication vouches for, never a runbook's key.",
}


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(document(ROUTES, title="DR control plane runbook API", version="1.0"))
