"""Refusals of the application layer. Each is the domain's error shape with the HTTP status a
runbook gets for it; an agent event or an activity that meets one reads its code instead."""

from __future__ import annotations

from domain.errors import DomainError


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409
