"""A drill's report as an HTML page: for people, printable, served behind the tenant's key
like every route. Every value is escaped (VM and disk names come from on-premises agents,
action names from operators); the page runs no script and loads nothing."""

from __future__ import annotations

import secrets
from html import escape

import azure.functions as func

from contracts.plans import DrillReportView, DrillVmView

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1b1b}
h1{font-size:1.4rem}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.Passed,.yes{color:#0a6b0a;font-weight:600}
.Failed,.no{color:#a30000;font-weight:600}.InProgress{color:#8a5a00}
code{font-size:12px;word-break:break-all}
"""


def _text(value: object) -> str:
    return escape("" if value is None else str(value))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _vm_rows(vm: DrillVmView) -> str:
    disks = vm.disks or []
    first = (
        f"<td rowspan='{max(len(disks), 1)}'>{_text(vm.vm)}</td>"
        f"<td rowspan='{max(len(disks), 1)}'>{vm.group}</td>"
        f"<td rowspan='{max(len(disks), 1)}'>{_text(vm.vm_name)}<br>"
        f"<code>{_text(vm.recovery_point_id)}</code></td>"
        f"<td rowspan='{max(len(disks), 1)}'>{_seconds(vm.rto_seconds)}</td>"
        f"<td rowspan='{max(len(disks), 1)}'>{_seconds(vm.rpo_seconds)}</td>"
    )
    if not disks:
        why = "; ".join(f"{e.code}: {e.cause}" for e in vm.errors) or "no disk proven"
        return f"<tr>{first}<td colspan='3' class='no'>{_text(why)}</td></tr>"
    rows = []
    for index, disk in enumerate(disks):
        verdict = "yes" if disk.identical else "no"
        cells = (
            f"<td>{_text(disk.disk_id)}</td>"
            f"<td class='{verdict}'>{'identical' if disk.identical else 'DIFFERENT'}</td>"
            f"<td><code>{_text(disk.sha256)}</code> ({disk.bytes} bytes)<br>"
            f"point: <code>{_text(disk.point_sha256)}</code> ({disk.point_bytes} bytes)</td>"
        )
        rows.append(f"<tr>{first if index == 0 else ''}{cells}</tr>")
    return "".join(rows)


def render(report: DrillReportView, nonce: str) -> str:
    cleanup = report.cleanup
    cleaned = (
        "confirmed: nothing left"
        if cleanup and cleanup.confirmed
        else "not confirmed: " + ", ".join(cleanup.leftovers)
        if cleanup
        else "not done"
    )
    errors = "".join(
        f"<li><strong>{_text(e.code)}</strong>: {_text(e.cause)}<br>{_text(e.recommendation)}</li>"
        for e in report.errors
    )
    vms = "".join(_vm_rows(vm) for vm in report.vms)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Drill {_text(report.id)} of {_text(report.plan)}</title>"
        f"<style nonce='{nonce}'>{STYLE}</style></head><body>"
        f"<h1>Drill of recovery plan {_text(report.plan)}: "
        f"<span class='{_text(report.state)}'>{_text(report.state)}</span></h1>"
        "<table>"
        f"<tr><th>Drill (job)</th><td><code>{_text(report.id)}</code></td></tr>"
        f"<tr><th>Tenant</th><td>{_text(report.tenant)}</td></tr>"
        f"<tr><th>Requested</th><td>{_text(report.requested)}</td></tr>"
        f"<tr><th>Started by</th><td>{_text(report.started_by)}</td></tr>"
        f"<tr><th>Finished</th><td>{_text(report.finished)}</td></tr>"
        f"<tr><th>Recovery point</th><td>{_text(report.recovery_point)}</td></tr>"
        f"<tr><th>RTO (request to last VM created)</th><td>{_seconds(report.rto_seconds)}</td></tr>"
        f"<tr><th>RPO (largest of its VMs)</th><td>{_seconds(report.rpo_seconds)}</td></tr>"
        f"<tr><th>Cleanup</th><td>{_text(cleaned)}</td></tr>"
        "</table><h2>VMs and disks</h2><table><tr><th>VM</th><th>Group</th>"
        "<th>Test VM, point</th><th>RTO</th><th>RPO</th><th>Disk</th><th>Bytes</th>"
        "<th>SHA-256: disk read through grant access, and its point</th></tr>"
        f"{vms}</table>"
        + (f"<h2>Errors</h2><ul>{errors}</ul>" if errors else "")
        + "</body></html>"
    )


def html_response(report: DrillReportView) -> func.HttpResponse:
    nonce = secrets.token_urlsafe(18)
    headers = {
        "Content-Security-Policy": f"default-src 'none'; style-src 'nonce-{nonce}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    page = render(report, nonce)
    return func.HttpResponse(
        page, status_code=200, mimetype="text/html", charset="utf-8", headers=headers
    )
