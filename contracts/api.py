"""Request bodies of the runbook HTTP API (v1); its answers are `contracts.views`. OpenAPI
schemas are generated from these models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts.base import WireModel
from contracts.commands import BandwidthCommand
from domain.autofailover import RuleSpec
from domain.failover import DataSync


class ProtectionTarget(WireModel):
    """Where and as what the VM comes up in Azure on failover."""

    # Lengths beyond Azure's limits are left to the prerequisite rules (TargetNameInvalid
    # names the limit and the fix); an empty string is refused here rather than read as unset.
    target_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Azure VM name; defaults to the VM's name.",
    )
    target_size: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Azure VM size, e.g. Standard_D2s_v5; defaults to the smallest catalogue "
        "size that fits the VM.",
    )
    target_resource_group: str | None = Field(default=None, min_length=1, max_length=90)
    target_network: str | None = Field(default=None, min_length=1, max_length=256)
    use_managed_disks: bool = True


class EnableProtectionRequest(ProtectionTarget):
    provider: Literal["direct", "asr"] | None = Field(
        default=None,
        description="Replication provider: 'direct' (our agent into page blobs) or 'asr' "
        "(Azure Site Recovery). Unset: the tenant's default (TENANT_DEFAULT_PROVIDERS, else "
        "DEFAULT_PROVIDER, else 'direct').",
    )
    policy: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Replication policy name; default policy if unset.",
    )


class PreflightRequest(EnableProtectionRequest):
    """The same body as enable; every field optional."""


class DisableProtectionRequest(WireModel):
    # Strict: only JSON true deletes; "yes", 1 or "true" are refused, not taken as true.
    delete_replica: bool = Field(
        default=False,
        strict=True,
        description="Also delete the replica blobs and their recovery points (true or false).",
    )


RecoveryPointChoice = Field(
    default="latest",
    min_length=1,
    max_length=128,
    description="'latest', 'latestAppConsistent', or the id of one of the VM's recovery points.",
)


class FailoverRequest(WireModel):
    """POST .../vms/{vm}/failover: which kind of failover, from which point."""

    type: Literal["test", "planned", "unplanned"] = Field(
        description="test: an isolated copy, replication untouched; planned: the source is shut "
        "down and synced one last time (no data loss); unplanned: from the chosen point at "
        "once, the source untouched."
    )
    recovery_point: str = RecoveryPointChoice
    shutdown_timeout_seconds: int = Field(
        default=300,
        ge=5,
        le=3600,
        description="Planned only: how long the guest may take to shut down.",
    )


class RecoveryPointRequest(WireModel):
    """POST .../failover/recovery-point: rebuild the failed-over VM from another point."""

    recovery_point: str = RecoveryPointChoice


class FailbackRequest(WireModel):
    """POST .../vms/{vm}/failback: bring a committed VM home (provider asr); the body may be
    left out."""

    data_sync: DataSync = Field(
        default=DataSync.WHILE_RUNNING,
        description="whileRunning: copy the Azure VM's changes while it still runs, then stop "
        "it and copy the rest (less downtime); duringDowntime: stop it first, then copy "
        "everything that changed.",
    )
    complete_on_approval: bool = Field(
        default=False,
        description="whileRunning only: once the changes are copied while the Azure VM runs, "
        "wait for POST .../jobs/{job}/approve before shutting it down (ASR's Complete "
        "failover), so the downtime starts when you choose; /reject cancels the failback and "
        "the Azure VM runs on. false: go on at once.",
    )


class SiteBandwidthRequest(BandwidthCommand):
    """PUT .../sites/{site}/bandwidth: the site's one upload cap, shared by all of its agent's
    transfers, with an optional schedule (lowest cap wins where windows overlap)."""


class AutoFailoverRuleRequest(RuleSpec):
    """PUT .../auto-failover-rules/{rule}: what to match, what to do, and the safeguards. A new
    rule runs as a dry run (mode dryRun) until its mode is set to active."""


class OpenApiDocument(BaseModel):
    """GET /openapi.json: an OpenAPI 3.1 document (only its top level is described)."""

    openapi: str
    info: dict
    paths: dict
    components: dict


class PlanFailoverRequest(WireModel):
    """POST .../recovery-plans/{plan}/failover: which kind of failover, from which kind of
    point. Every VM of the plan fails over from its own point of that kind."""

    type: Literal["test", "planned", "unplanned"] = Field(
        description="As for one VM: test (isolated, replication untouched), planned (each "
        "source shut down and synced one last time) or unplanned (from the point at once)."
    )
    recovery_point: Literal["latest", "latestAppConsistent"] = Field(
        default="latest",
        description="Each VM's latest or latest app-consistent point; a planned failover "
        "makes its own (latest only).",
    )
    shutdown_timeout_seconds: int = Field(
        default=300,
        ge=5,
        le=3600,
        description="Planned only: how long each guest may take to shut down.",
    )
