"""The runbook API's contract (issue 4, point 6) on devhost + Azurite: the OpenAPI document
and the app agree both ways, every route but /api/health needs a key, a tenant's key never
reads or changes another tenant's data on any route, bad bodies and unknown resources are
problem+json with stable codes, and lists page with a continuation token.

Every answer goes through `api`, which checks it against the OpenAPI document."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import KEYS, SITE, CheckedApi
from tests.e2e.test_protection import finished_job, jobs_of, listed_vms, new_id, report, vm_body
from triggers.openapi import NOT_IN_DOCUMENT

PROBLEM = "application/problem+json"
PLAN = "contract-plan"
RULE = {"match": {"alertRules": ["contract"]}, "action": {"plan": PLAN},
        "corroborate": {"site": "contract-site"}}  # fmt: skip


@pytest.fixture(scope="module")
def contoso(api: CheckedApi) -> dict[str, str]:
    """Data of tenant contoso for the other tenants to try: a protected VM and its job."""
    vm = new_id("owned")
    report(api, "contoso", vm_body(vm))
    accepted = api.call("POST", f"tenants/contoso/vms/{vm}/protection", json={}).json()
    assert finished_job(api, "contoso", accepted["id"])["state"] == "Succeeded"
    plan = api.call(
        "PUT", f"tenants/contoso/recovery-plans/{PLAN}", json={"groups": [{"vms": [vm]}]}
    )
    assert plan.status_code == 200, plan.text
    return {"vm": vm, "job": accepted["id"]}


def routes(
    vm: str,
    job: str,
    site: str = SITE,
    plan: str = PLAN,
    drill: str | None = None,
    rule: str = "contract-rule",
) -> list[tuple[str, str, dict | None]]:
    """Every tenant route of the app with concrete ids (tenant left as {tenant})."""
    drill = drill or job
    plans = f"tenants/{{tenant}}/recovery-plans/{plan}"
    return [
        ("GET", "tenants/{tenant}/vms", None),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/preflight", {}),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/protection", {}),
        ("DELETE", f"tenants/{{tenant}}/vms/{vm}/protection", {}),
        ("GET", "tenants/{tenant}/replicated-items", None),
        ("GET", f"tenants/{{tenant}}/replicated-items/{vm}", None),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failover", {"type": "test"}),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failover/cleanup", None),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failover/commit", None),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failover/cancel", None),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failover/recovery-point", {"recoveryPoint": "x"}),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failback", {"dataSync": "whileRunning"}),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/failback/commit", None),
        ("POST", f"tenants/{{tenant}}/vms/{vm}/reprotect", None),
        ("PUT", f"tenants/{{tenant}}/sites/{site}/bandwidth", {"bytesPerSecond": 1000000}),
        ("GET", f"tenants/{{tenant}}/sites/{site}/bandwidth", None),
        ("GET", "tenants/{tenant}/jobs", None),
        ("GET", f"tenants/{{tenant}}/jobs/{job}", None),
        ("POST", f"tenants/{{tenant}}/jobs/{job}/approve", None),
        ("POST", f"tenants/{{tenant}}/jobs/{job}/reject", None),
        ("PUT", f"tenants/{{tenant}}/auto-failover-rules/{rule}", RULE),
        ("GET", f"tenants/{{tenant}}/auto-failover-rules/{rule}", None),
        ("DELETE", f"tenants/{{tenant}}/auto-failover-rules/{rule}", None),
        ("GET", "tenants/{tenant}/auto-failover-rules", None),
        ("GET", "tenants/{tenant}/recovery-plans", None),
        ("GET", plans, None),
        ("POST", f"{plans}/failover", {"type": "test"}),
        ("POST", f"{plans}/commit", None),
        ("POST", f"{plans}/cleanup", None),
        ("POST", f"{plans}/drill", None),
        ("GET", f"{plans}/drills", None),
        ("GET", f"{plans}/drills/{drill}", None),
        ("GET", f"{plans}/drills/{drill}/report", None),
        ("DELETE", plans, None),
        ("PUT", plans, {"groups": [{"vms": [vm]}]}),  # last: another tenant makes its own
    ]


def test_the_document_and_the_app_agree_both_ways(api: CheckedApi) -> None:
    described = {(m.upper(), p) for p, ops in api.doc["paths"].items() for m in ops}
    served = {
        (method, "/api/" + spec.route.template)
        for spec in api.cp.host.specs
        if spec.route is not None and spec.name not in NOT_IN_DOCUMENT
        for method in spec.methods
    }
    assert served == described
    # Served but not in the document, each for the reason triggers/openapi.py gives: the
    # signed-in console's door, which no runbook can use (tests/e2e/console).
    assert {s.name for s in api.cp.host.specs if s.name in NOT_IN_DOCUMENT} == set(NOT_IN_DOCUMENT)
    documented_tenant_routes = {
        (m, "/api/" + p.replace("{tenant}", "contoso"))
        for m, p, _ in routes("{vm}", "{job}", "{site}", "{plan}", "{drill}", "{rule}")
    }
    assert {(m, p.replace("{tenant}", "contoso")) for m, p in described if "/tenants/" in p} == (
        documented_tenant_routes
    )
    for path, operations in api.doc["paths"].items():
        for operation in operations.values():
            assert operation["security"] == ([] if path == "/api/health" else [{"functionKey": []}])
            if operation.get("requestBody"):
                assert "400" in operation["responses"], path


def test_health_needs_no_key_and_reveals_no_configuration(api: CheckedApi) -> None:
    response = api.call("GET", "health", key="")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert "devstoreaccount1" not in response.text and "AccountKey" not in response.text


@pytest.mark.parametrize("key", ["", "not-a-key"], ids=["no key", "unknown key"])
def test_every_other_route_refuses_a_request_without_a_valid_key(
    api: CheckedApi, contoso: dict[str, str], key: str
) -> None:
    # The console's page is anonymous at the host (it holds no data) and refuses by itself.
    calls = [*routes(contoso["vm"], contoso["job"]), ("GET", "openapi.json", None),
             ("GET", "console", None)]  # fmt: skip
    for method, path, body in calls:
        response = api.call(method, path.format(tenant="contoso"), key=key, json=body)
        assert response.status_code == 401, (method, path, response.text)


def test_a_tenants_key_is_refused_on_every_route_of_another_tenant(
    api: CheckedApi, contoso: dict[str, str]
) -> None:
    before = api.call("GET", f"tenants/contoso/replicated-items/{contoso['vm']}").json()
    for method, path, body in routes(contoso["vm"], contoso["job"]):
        response = api.call(method, path.format(tenant="contoso"), key=KEYS["fabrikam"], json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["Content-Type"].startswith(PROBLEM)
        assert response.json()["code"] == "TenantForbidden"
        assert contoso["vm"] not in response.text
    after = api.call("GET", f"tenants/contoso/replicated-items/{contoso['vm']}").json()
    assert (after["status"], after["activeJobId"]) == (before["status"], before["activeJobId"])


def test_a_tenant_never_sees_or_changes_another_tenants_data_in_its_own_routes(
    api: CheckedApi, contoso: dict[str, str]
) -> None:
    """fabrikam asks its own routes for contoso's VM and job: they do not exist for it."""
    vm, job = contoso["vm"], contoso["job"]
    codes = {
        ("POST", "preflight"): "VmNotFound",
        ("POST", "protection"): "VmNotFound",
        ("DELETE", "protection"): "VmNotFound",
        ("GET", vm): "ReplicatedItemNotFound",
        ("GET", job): "JobNotFound",
        ("POST", "failover"): "ReplicatedItemNotFound",
        ("POST", "cleanup"): "ReplicatedItemNotFound",
        ("POST", "commit"): "ReplicatedItemNotFound",
        ("POST", "cancel"): "ReplicatedItemNotFound",
        ("POST", "recovery-point"): "ReplicatedItemNotFound",
        ("POST", "failback"): "ReplicatedItemNotFound",
        ("POST", "reprotect"): "ReplicatedItemNotFound",
        ("PUT", "bandwidth"): "SiteNotFound",  # fabrikam's agents never reported this site
        ("GET", "bandwidth"): "BandwidthNotSet",
        ("POST", "approve"): "JobNotFound",
        ("POST", "reject"): "JobNotFound",
    }
    plan_codes = {  # contoso's plan and its drill do not exist for fabrikam
        ("GET", PLAN): "RecoveryPlanNotFound",
        ("DELETE", PLAN): "RecoveryPlanNotFound",
        ("POST", "failover"): "RecoveryPlanNotFound",
        ("POST", "commit"): "RecoveryPlanNotFound",
        ("POST", "cleanup"): "RecoveryPlanNotFound",
        ("POST", "drill"): "RecoveryPlanNotFound",
        ("GET", "drills"): "RecoveryPlanNotFound",
        ("GET", job): "DrillNotFound",
        ("GET", "report"): "DrillNotFound",
    }
    for method, path, body in routes(vm, job):
        response = api.call(method, path.format(tenant="fabrikam"), "fabrikam", json=body)
        last = path.rsplit("/", 1)[-1]
        known = plan_codes if "/recovery-plans/" in path else codes
        if (method, last) in known:
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["code"] == known[(method, last)]
        else:  # lists, and fabrikam's own rule and plan (made, read, deleted)
            assert response.status_code in (200, 204), (method, path, response.text)
            assert vm not in response.text or method == "PUT", (method, path)
            assert job not in response.text
    assert jobs_of(api, "fabrikam", vm) == []
    assert [j["id"] for j in jobs_of(api, "contoso", vm)].count(job) == 1


@pytest.mark.parametrize(
    ("method", "route", "code"),
    [
        ("POST", "vms/{vm}/preflight", "VmNotFound"),
        ("POST", "vms/{vm}/protection", "VmNotFound"),
        ("DELETE", "vms/{vm}/protection", "VmNotFound"),
        ("GET", "replicated-items/{vm}", "ReplicatedItemNotFound"),
        ("GET", "jobs/{vm}", "JobNotFound"),
    ],
)
def test_unknown_resources_are_404_problems_with_a_stable_code(
    api: CheckedApi, method: str, route: str, code: str
) -> None:
    missing = "nope-" + uuid.uuid4().hex[:8]
    response = api.call(method, "tenants/contoso/" + route.format(vm=missing), json={})
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert (problem["status"], problem["code"]) == (404, code)
    assert missing in problem["cause"] and problem["recommendation"]


@pytest.mark.parametrize(
    ("method", "route", "body", "code", "names"),
    [
        ("POST", "preflight", {"provider": "tape"}, "InvalidField", "provider"),
        ("POST", "protection", {"targetSize": 7}, "InvalidField", "targetSize"),
        ("POST", "protection", {"targetNmae": "x"}, "InvalidField", "targetNmae"),
        ("POST", "protection", {"targetName": ""}, "InvalidField", "targetName"),
        ("DELETE", "protection", {"deleteReplica": "maybe"}, "InvalidField", "deleteReplica"),
        ("POST", "protection", b"{nope", "BodyNotJson", "JSON"),
        ("POST", "preflight", b"[1, 2]", "InvalidField", "body"),
    ],
)
def test_bad_bodies_are_400_problems_naming_the_field(
    api: CheckedApi, contoso: dict[str, str], method, route, body, code, names
) -> None:
    path = f"tenants/contoso/vms/{contoso['vm']}/{route}"
    kw = {"data": body} if isinstance(body, bytes) else {"json": body}
    response = api.call(method, path, **kw)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["code"] == code and names in problem["cause"], problem
    assert problem["recommendation"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"top": "0"}, "InvalidPageSize"), ({"top": "1001"}, "InvalidPageSize"),
     ({"top": "ten"}, "InvalidPageSize"), ({"continuationToken": "%%%"}, "InvalidContinuationToken")],
)  # fmt: skip
def test_bad_paging_arguments_are_400_problems(api: CheckedApi, params: dict, code: str) -> None:
    for route in ("vms", "jobs", "replicated-items"):
        response = api.call("GET", f"tenants/contoso/{route}", params=params)
        assert response.status_code == 400 and response.json()["code"] == code, route


def follow(api: CheckedApi, path: str, tenant: str, top: int, **params: str) -> list[list[dict]]:
    """Every page of a list, following nextLink unchanged; the pages' items."""
    pages = []
    response = api.call("GET", path, tenant, params={"top": top, **params})
    while True:
        body = response.json()
        assert len(body["value"]) <= top
        pages.append(body["value"])
        if "nextLink" not in body:
            return pages
        link = urlsplit(body["nextLink"])
        assert link.hostname == "127.0.0.1"
        query = parse_qs(link.query)
        assert "code" not in query and query["top"] == [str(top)]
        for name, value in params.items():
            assert query[name] == [value], "a filter carries over to the next page"
        response = api.call("GET", link.path.removeprefix("/api/") + "?" + link.query, tenant)


def test_vms_page_through_more_items_than_one_page(api: CheckedApi) -> None:
    cloud = new_id("paged")
    mine = [vm_body(new_id("p")) for _ in range(5)]
    report(api, "legacy", *mine, cloud=cloud)
    everything = set(listed_vms(api, "legacy"))
    pages = follow(api, "tenants/legacy/vms", "legacy", top=2)
    ids = [v["vm"]["id"] for page in pages for v in page]
    assert len(pages) >= 3 and len(ids) == len(set(ids)), "each VM once"
    assert set(ids) == everything and {vm["id"] for vm in mine} <= set(ids)


def test_jobs_page_with_a_filter_through_more_items_than_one_page(api: CheckedApi) -> None:
    vm = new_id("pj")
    report(api, "legacy", vm_body(vm, is64Bit=False))  # fails its prerequisites every time
    for _ in range(3):
        accepted = api.call("POST", f"tenants/legacy/vms/{vm}/protection", "legacy", json={})
        assert finished_job(api, "legacy", accepted.json()["id"])["state"] == "Failed"
    pages = follow(api, "tenants/legacy/jobs", "legacy", top=1, target=vm)
    jobs = [j for page in pages for j in page]
    assert len(pages) >= 3 and len(jobs) == 3 == len({j["id"] for j in jobs})
    assert {j["target"] for j in jobs} == {vm}
    assert [j["startTime"] for j in jobs] == sorted((j["startTime"] for j in jobs), reverse=True)
    failed = follow(api, "tenants/legacy/jobs", "legacy", top=2, state="Failed", target=vm)
    assert sum(len(p) for p in failed) == 3


def test_replicated_items_list_pages_and_shows_only_protected_vms(
    api: CheckedApi, contoso: dict[str, str]
) -> None:
    pages = follow(api, "tenants/contoso/replicated-items", "contoso", top=1)
    items = {i["vm"]: i for page in pages for i in page}
    assert contoso["vm"] in items
    assert all(i["status"] != "NotProtected" for i in items.values())


def test_a_continuation_token_never_crosses_tenants(
    api: CheckedApi, contoso: dict[str, str]
) -> None:
    """A token names a position in a table; a key of fabrikam replaying contoso's token still
    reads only fabrikam's partition."""
    report(api, "contoso", vm_body(new_id("second")))  # so contoso's list has a second page
    link = api.call("GET", "tenants/contoso/vms", params={"top": 1}).json()["nextLink"]
    token = parse_qs(urlsplit(link).query)["continuationToken"][0]
    for route in ("vms", "jobs", "replicated-items"):
        theirs = api.call("GET", f"tenants/fabrikam/{route}", "fabrikam",
                          params={"top": 1000, "continuationToken": token})  # fmt: skip
        assert theirs.status_code == 200
        assert contoso["vm"] not in theirs.text and '"tenant": "contoso"' not in theirs.text
        assert all(v["tenant"] == "fabrikam" for v in theirs.json()["value"])
