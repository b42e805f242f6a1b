"""What reaches the `alerts` Event Grid trigger, read into the domain's `Signal`.

Two kinds of event arrive, each in the Event Grid schema or as a CloudEvent 1.0 (the
subscription chooses; the rules do not care):

- Azure Monitor alerts. Azure Monitor has no Event Grid system event for them: an action
  group's webhook posts the common alert schema (`{"schemaId": "azureMonitorCommonAlertSchema",
  "data": {"essentials": {...}, "alertContext": {...}}}`) to a custom topic whose input mapping
  sets id <- essentials.alert_id, subject <- essentials.alert_rule, event type <-
  essentials.monitorCondition; the posted payload is the event's `data`, whole. The envelope's
  type is only derived (the topic maps a missing monitorCondition to `Fired` by default), so
  the essentials are read, strictly: an alert without a monitor condition is refused, never
  taken for Fired.
- Health Resources `AvailabilityStatusChanged` (the subscription-wide system topic):
  Unavailable fires, Available resolves; Degraded and Unknown are not acted on.
  `ResourceAnnotated` carries context only and is not a signal.

Everything in an event is untrusted input: sizes are bounded, times must carry a zone, and a
malformed event is refused with every reason (`AlertRejected`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from domain.autofailover import Condition, Signal, SignalSource

COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
AVAILABILITY_CHANGED = "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged"
RESOURCE_ANNOTATED = "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
NOT_SIGNALS = {RESOURCE_ANNOTATED, SUBSCRIPTION_VALIDATION}
_AVAILABILITY = {"Unavailable": Condition.FIRED, "Available": Condition.RESOLVED}
MAX_TEXT = 1024


class AlertRejected(Exception):
    """The event cannot be read as an alert or an availability change; `reasons` says every
    way in which, `recommendation` what to fix at the sender."""

    code = "AlertEventInvalid"

    def __init__(self, reasons: list[str], recommendation: str) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.recommendation = recommendation


class Envelope(BaseModel):
    """The parts of an Event Grid event or a CloudEvent the rules use, as the trigger got them
    (`schema` says which)."""

    schema_: Literal["EventGridSchema", "CloudEventSchemaV1_0"] = Field(alias="schema")
    id: str
    type: str
    subject: str | None = None
    source: str | None = None  # CloudEvents' source, Event Grid's topic
    time: datetime | None = None
    data: Any = None

    model_config = ConfigDict(populate_by_name=True)


class _Read(BaseModel):
    """Azure's camelCase fields; fields Azure adds later are ignored, not refused."""

    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel)


class Essentials(_Read):
    alert_id: str = Field(min_length=1, max_length=MAX_TEXT)
    alert_rule: str = Field(min_length=1, max_length=MAX_TEXT)
    severity: Literal["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]
    monitor_condition: Literal["Fired", "Resolved"]
    alert_target_ids: list[str] = Field(
        default_factory=list, max_length=100, alias="alertTargetIDs"
    )
    fired_date_time: AwareDatetime | None = None
    resolved_date_time: AwareDatetime | None = None
    description: str | None = None


class AvailabilityProperties(_Read):
    target_resource_id: str = Field(min_length=1, max_length=MAX_TEXT)
    availability_state: str = Field(min_length=1, max_length=64)
    occurred_time: AwareDatetime


def _problems(error: ValidationError, prefix: str) -> list[str]:
    found = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        found.append(f"{prefix}{'.' if where else ''}{where}: {item['msg']}")
    return found


def _essentials(data: Any) -> dict:
    """The essentials of a common-alert-schema payload (as posted, or its inner `data`)."""
    if not isinstance(data, dict):
        raise AlertRejected(
            [f"data is {type(data).__name__}, not the common alert schema's JSON object"],
            "Alert rules must use an action group whose webhook sends the common alert schema "
            "(useCommonAlertSchema: true).",
        )
    inner = data.get("data") if isinstance(data.get("data"), dict) else data
    essentials = inner.get("essentials")
    if not isinstance(essentials, dict):
        schema = data.get("schemaId")
        raise AlertRejected(
            [f"data holds no essentials (schemaId {schema!r}, expected {COMMON_ALERT_SCHEMA!r})"],
            "Turn on the common alert schema for the action group's webhook "
            "(useCommonAlertSchema: true); other schemas are not read.",
        )
    return essentials


def _alert(envelope: Envelope, received: datetime) -> Signal:
    try:
        essentials = Essentials.model_validate(_essentials(envelope.data))
    except ValidationError as error:
        raise AlertRejected(
            _problems(error, "data.essentials"),
            "Send alerts in the common alert schema, as Azure Monitor's action group does; a "
            "test payload must carry alertId, alertRule, severity and monitorCondition.",
        ) from error
    condition = Condition(essentials.monitor_condition)
    if condition is Condition.FIRED:
        if essentials.fired_date_time is None:
            raise AlertRejected(
                ["data.essentials.firedDateTime: a Fired alert must say when it fired"],
                "Send the alert as Azure Monitor does, with firedDateTime.",
            )
        time = essentials.fired_date_time
    else:
        # Only metric alerts carry resolvedDateTime; otherwise the Resolved counts from now,
        # which is after its Fired, whatever the order of delivery.
        time = essentials.resolved_date_time or max(
            received, essentials.fired_date_time or received
        )
    return Signal(
        source=SignalSource.ALERT,
        key=essentials.alert_id,
        condition=condition,
        time=time,
        event_id=envelope.id,
        alert_rule=essentials.alert_rule,
        severity=essentials.severity,
        resources=tuple(essentials.alert_target_ids),
        description=(essentials.description or None) and essentials.description[:MAX_TEXT],
    )


def _availability(envelope: Envelope) -> Signal | None:
    data = envelope.data
    info = data.get("resourceInfo") if isinstance(data, dict) else None
    properties = info.get("properties") if isinstance(info, dict) else None
    try:
        changed = AvailabilityProperties.model_validate(properties)
    except ValidationError as error:
        raise AlertRejected(
            _problems(error, "data.resourceInfo.properties"),
            "Subscribe the alert function to the Health Resources system topic itself; its "
            "AvailabilityStatusChanged events carry these fields.",
        ) from error
    condition = _AVAILABILITY.get(changed.availability_state)
    if condition is None:  # Degraded, Unknown: not a reason to act, not a recovery either
        return None
    resource = changed.target_resource_id
    return Signal(
        source=SignalSource.HEALTH,
        key=resource.lower(),
        condition=condition,
        time=changed.occurred_time,
        event_id=envelope.id,
        resources=(resource,),
        state=changed.availability_state,
    )


def signal_of(envelope: Envelope, received: datetime) -> Signal | None:
    """The signal an event carries; None for an event that is no signal (an annotation, a
    validation handshake, a Degraded or Unknown availability). `received` (aware) is when the
    event arrived. Raises AlertRejected for an event that cannot be read."""
    if envelope.type in NOT_SIGNALS:
        return None
    if envelope.type == AVAILABILITY_CHANGED:
        return _availability(envelope)
    return _alert(envelope, received)
