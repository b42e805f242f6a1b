"""Reading what reaches the `alerts` trigger: the recorded payloads of both envelopes become
the same signals, and what cannot be read is refused with every reason."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.alerts import AlertRejected, Envelope, signal_of
from domain.autofailover import Condition, SignalSource

FIXTURES = Path(__file__).resolve().parents[1] / "e2e" / "fixtures" / "alerts"
RECEIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ALERT_ID = "b9569717-bc32-442f-add5-83a997729330"


def envelope(name: str) -> Envelope:
    """As the trigger builds it from the worker's EventGridEvent or CloudEvent."""
    event = json.loads((FIXTURES / name).read_text())["event"]
    if "specversion" in event:
        return Envelope(
            schema="CloudEventSchemaV1_0",
            id=event["id"],
            type=event["type"],
            subject=event.get("subject"),
            source=event["source"],
            time=event.get("time"),
            data=event["data"],
        )
    return Envelope(
        schema="EventGridSchema",
        id=event["id"],
        type=event["eventType"],
        subject=event.get("subject"),
        source=event.get("topic"),
        time=event.get("eventTime"),
        data=event["data"],
    )


@pytest.mark.parametrize(
    ("name", "source", "condition", "time"),
    [
        ("common-alert-fired.eventgrid.json", SignalSource.ALERT, Condition.FIRED, "11:50:24"),
        ("common-alert-fired.cloudevent.json", SignalSource.ALERT, Condition.FIRED, "11:50:24"),
        (
            "common-alert-resolved.eventgrid.json",
            SignalSource.ALERT,
            Condition.RESOLVED,
            "11:55:16",
        ),
        (
            "common-alert-resolved.cloudevent.json",
            SignalSource.ALERT,
            Condition.RESOLVED,
            "11:55:16",
        ),
        ("health-unavailable.eventgrid.json", SignalSource.HEALTH, Condition.FIRED, "11:50:37"),
        ("health-available.cloudevent.json", SignalSource.HEALTH, Condition.RESOLVED, "11:58:37"),
    ],
)
def test_recorded_events_become_signals(name, source, condition, time) -> None:
    signal = signal_of(envelope(name), RECEIVED)
    assert signal is not None
    assert (signal.source, signal.condition) == (source, condition)
    assert signal.time.strftime("%H:%M:%S") == time
    assert signal.resources and "virtualmachines/vmm01-probe" in signal.resources[0].lower()
    if source is SignalSource.ALERT:  # a Fired and its Resolved share the alert id
        assert signal.key.endswith(ALERT_ID) and signal.alert_rule == "vmm01-site-unreachable"
        assert signal.severity == "Sev1"
    else:  # an Unavailable and its Available share the resource
        assert signal.key == signal.resources[0].lower() and signal.severity is None


def test_the_same_alert_reads_the_same_in_both_envelopes() -> None:
    for condition in ("fired", "resolved"):
        grid = signal_of(envelope(f"common-alert-{condition}.eventgrid.json"), RECEIVED)
        cloud = signal_of(envelope(f"common-alert-{condition}.cloudevent.json"), RECEIVED)
        assert grid == cloud


def test_annotations_and_validation_events_are_not_signals() -> None:
    assert signal_of(envelope("health-annotated.eventgrid.json"), RECEIVED) is None
    degraded = envelope("health-unavailable.eventgrid.json")
    degraded.data["resourceInfo"]["properties"]["availabilityState"] = "Degraded"
    assert signal_of(degraded, RECEIVED) is None


def test_a_resolved_without_resolved_time_counts_from_its_arrival() -> None:
    event = envelope("common-alert-resolved.eventgrid.json")
    del event.data["data"]["essentials"]["resolvedDateTime"]
    signal = signal_of(event, RECEIVED)
    assert signal is not None and signal.time == RECEIVED


def _broken(change) -> Envelope:
    event = envelope("common-alert-fired.eventgrid.json")
    data = copy.deepcopy(event.data)
    change(data)
    return event.model_copy(update={"data": data})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["data"]["essentials"].pop("monitorCondition"), "monitorCondition"),
        (lambda d: d["data"]["essentials"].update(monitorCondition="Firing"), "monitorCondition"),
        (lambda d: d["data"]["essentials"].update(severity="Critical"), "severity"),
        (lambda d: d["data"]["essentials"].pop("firedDateTime"), "firedDateTime"),
        (
            lambda d: d["data"]["essentials"].update(firedDateTime="2026-12-01T11:50:24"),
            "firedDateTime",
        ),
        (lambda d: d["data"]["essentials"].update(alertTargetIDs=["x"] * 101), "alertTargetIDs"),
        (lambda d: d["data"].pop("essentials"), "essentials"),
    ],
)
def test_unreadable_alerts_are_refused_with_the_reason(change, named) -> None:
    with pytest.raises(AlertRejected) as refused:
        signal_of(_broken(change), RECEIVED)
    assert named in str(refused.value) and refused.value.recommendation


def test_data_that_is_not_an_object_is_refused() -> None:
    event = envelope("common-alert-fired.eventgrid.json").model_copy(update={"data": "Fired"})
    with pytest.raises(AlertRejected, match="not the common alert schema"):
        signal_of(event, RECEIVED)
    health = envelope("health-unavailable.eventgrid.json").model_copy(update={"data": {}})
    with pytest.raises(AlertRejected, match=r"resourceInfo\.properties"):
        signal_of(health, RECEIVED)
