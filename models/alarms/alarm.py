"""An alarm as its events publish it (:class:`Alarm`), the evidence it carries, and its id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from models.alarms.rules import AlarmChange, AlarmState, Severity, severity_of
from models.scoring import ScoredReading
from sensors.catalog import KINDS
from sensors.event_time import from_micros, to_micros

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://openlab.invalid/alarms")


def alarm_id(sensor_id: str, alarm_type: str, first_anomalous_at: datetime) -> str:
    """The id of the alarm of ``sensor_id`` and ``alarm_type`` whose first anomalous reading was
    at ``first_anomalous_at``: a UUID derived from them, so a replay gives the same id.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 11, 30, tzinfo=UTC)
    >>> alarm_id("S1.t", "anomaly", at) == alarm_id("S1.t", "anomaly", at)
    True
    >>> alarm_id("S1.t", "anomaly", at) == alarm_id("S2.t", "anomaly", at)
    False
    """
    name = f"{sensor_id}/{alarm_type}/{first_anomalous_at.astimezone(UTC).isoformat()}"
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the detector said of one anomalous reading: the explanation an alarm carries."""

    at: datetime
    value: float
    score: float
    probability: float
    threshold: float
    expected_low: float
    expected_high: float
    detector: str
    severity: Severity

    @classmethod
    def of(cls, scored: ScoredReading) -> Evidence:
        return cls(
            scored.observed_at,
            scored.value,
            scored.score,
            scored.probability,
            scored.threshold,
            scored.expected_low,
            scored.expected_high,
            scored.detector,
            severity_of(scored),
        )

    def fields(self) -> dict[str, Any]:
        """The fields of an alarm this evidence gives."""
        return {
            "severity": self.severity,
            "value": self.value,
            "score": self.score,
            "probability": self.probability,
            "threshold": self.threshold,
            "expected_low": self.expected_low,
            "expected_high": self.expected_high,
            "detector": self.detector,
        }

    def to_list(self) -> list[Any]:
        return [
            to_micros(self.at),
            self.value,
            self.score,
            self.probability,
            self.threshold,
            self.expected_low,
            self.expected_high,
            self.detector,
            self.severity.value,
        ]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Evidence:
        at, value, score, probability, threshold, low, high, detector, severity = data
        return cls(
            from_micros(at),
            float(value),
            float(score),
            float(probability),
            float(threshold),
            float(low),
            float(high),
            str(detector),
            Severity(severity),
        )


class Alarm(BaseModel):
    """An alarm as one of its events publishes it: who and where, how grave, in which state, since
    when, and why (the detector's evidence, recent values, the data-quality flags of those values).

    ``value``, ``score``, ``probability``, ``threshold``, ``expected_low``, ``expected_high`` and
    ``detector`` are those of the latest anomalous reading of the alarm's severity.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_id: str
    alarm_type: str
    change: AlarmChange
    sequence: int
    """0 when opened, one more with each later event of the same alarm."""
    sensor_id: str
    site_id: str
    site_name: str
    owner_id: str
    district: str
    programme: str
    latitude: float
    longitude: float
    kind: str
    unit: str
    severity: Severity
    state: AlarmState
    flapping: bool
    opened_at: AwareDatetime
    first_anomalous_at: AwareDatetime
    last_anomalous_at: AwareDatetime
    updated_at: AwareDatetime
    """The event time of this event (a reading's, or an operator's action)."""
    cleared_at: AwareDatetime | None = None
    cleared_by: Literal["rule", "operator"] | None = None
    acknowledged_at: AwareDatetime | None = None
    anomalous_readings: int
    value: float
    score: float
    probability: float
    threshold: float
    expected_low: float
    expected_high: float
    detector: str
    recent_values: tuple[tuple[AwareDatetime, float], ...]
    """The sensor's latest readings (event time, value), oldest first, normal ones included."""
    quality: tuple[str, ...]
    """The data-quality flags of those readings."""
    summary: str
    """One sentence for a human."""
    reason: str = ""
    """Why it opened: the rule that held (``3 anomalous readings in a row``, ``one reading 25 times
    rarer than the threshold``) or the sensor's fault (``no reading for 900 s (14 missing)``)."""

    def fiware(self) -> dict[str, Any]:
        """The alarm as a FIWARE Smart Data Models ``Anomaly`` entity (dataModel.Alert), key-values.

        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 11, 30, tzinfo=UTC)
        >>> alarm = Alarm(alarm_id="a1", alarm_type="anomaly", change="opened", sequence=0,
        ...     sensor_id="S1.t", site_id="S1", site_name="Park", owner_id="o1", district="Dong-gu",
        ...     programme="urban_life", latitude=35.1, longitude=126.9, kind="temperature", unit="Cel",
        ...     severity="major", state="active_unack", flapping=False, opened_at=at,
        ...     first_anomalous_at=at, last_anomalous_at=at, updated_at=at, anomalous_readings=3,
        ...     value=41.0, score=9.0, probability=0.99999, threshold=0.999, expected_low=10.0,
        ...     expected_high=18.0, detector="x@1", recent_values=[(at, 41.0)], quality=(), summary="hot")
        >>> entity = alarm.fiware()
        >>> entity["type"], entity["id"], entity["anomalousProperty"], entity["detectedBy"]
        ('Anomaly', 'urn:ngsi-ld:Anomaly:a1', 'temperature', 'urn:ngsi-ld:Device:S1.t')
        >>> breach = entity["thresholdBreach"][0]
        >>> breach["dateObserved"], breach["measuredValue"], breach["thresholdType"], breach["thresholdValue"]
        ('2026-11-30T00:00:00Z', 41.0, 'UPPER', 18.0)
        """
        spec = KINDS.get(self.kind)
        entity: dict[str, Any] = {
            "id": f"urn:ngsi-ld:Anomaly:{self.alarm_id}",
            "type": "Anomaly",
            "detectedBy": f"urn:ngsi-ld:Device:{self.sensor_id}",
            "anomalousProperty": spec.fiware_attribute if spec and spec.fiware_attribute else self.kind,
            "dateDetected": _iso(self.first_anomalous_at),
            "dateCreated": _iso(self.opened_at),
            "dateModified": _iso(self.updated_at),
            "name": f"{self.kind} {self.alarm_type} at {self.site_name}",
            "description": self.summary,
            "source": self.detector,
            "dataProvider": "openlab",
            "owner": [f"urn:ngsi-ld:Organization:{self.owner_id}"],
            "areaServed": self.district,
            "location": {"type": "Point", "coordinates": [self.longitude, self.latitude]},
        }
        breach = _breach(self.value, self.expected_low, self.expected_high)
        if breach is not None:
            kind_of, threshold = breach
            entity["thresholdBreach"] = [
                {
                    "dateObserved": _iso(self.last_anomalous_at),
                    "measuredValue": self.value,
                    "thresholdType": kind_of,
                    "thresholdValue": threshold,
                }
            ]
        return entity

    def acknowledged(self, at: datetime) -> Alarm | None:
        """This alarm acknowledged by an operator at ``at``, or ``None`` if it already was
        (for an alarm that is no longer its sensor's current one, e.g. an old cleared one)."""
        if self.state.acknowledged:
            return None
        at = operator_time(at)
        return self.model_copy(
            update={
                "state": self.state.acknowledge(),
                "acknowledged_at": at,
                "change": AlarmChange.ACKNOWLEDGED,
                "sequence": self.sequence + 1,
                "updated_at": at,
            }
        )


def _breach(value: float, low: float, high: float) -> tuple[Literal["UPPER", "LOWER"], float] | None:
    if value > high:
        return "UPPER", high
    if value < low:
        return "LOWER", low
    return None


def describe(alarm: Alarm) -> str:
    breach = _breach(alarm.value, alarm.expected_low, alarm.expected_high)
    where = {None: "within", "UPPER": "above", "LOWER": "below"}[None if breach is None else breach[0]]
    text = (
        f"{alarm.severity} {alarm.kind} {alarm.alarm_type} at {alarm.site_name} ({alarm.district}):"
        f"{f' {alarm.reason};' if alarm.reason else ''} {alarm.value:g} {alarm.unit}, {where} the expected"
        f" {alarm.expected_low:g}..{alarm.expected_high:g},"
        f" anomaly probability {alarm.probability:.6g} against {alarm.threshold:g} ({alarm.detector});"
        f" {alarm.anomalous_readings} anomalous reading(s) since {_iso(alarm.first_anomalous_at)}"
    )
    if alarm.flapping:
        text += "; flapping"
    if alarm.cleared_at is not None:
        text += f"; cleared by {alarm.cleared_by} at {_iso(alarm.cleared_at)}"
    return text


def operator_time(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an operator's action needs an aware time, not {at.isoformat()}")
    return at.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
