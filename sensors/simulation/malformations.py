"""Malformed events, as field gateways really send them, for exercising the dead-letter path."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from enum import StrEnum

from sensors.catalog import KINDS
from sensors.cleaning import Reason


class Malformation(StrEnum):
    """Ways a field event goes wrong."""

    NOT_JSON = "not_json"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    NOT_A_NUMBER = "nan"
    INFINITE = "infinite"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_SENSOR = "unknown_sensor"
    FUTURE = "future"
    WRONG_UNIT = "wrong_unit"
    BINARY = "binary"

    @property
    def reason(self) -> Reason:
        """The reason the cleaner must give for an event broken this way."""
        return _REASON_OF[self]


_REASON_OF = {
    Malformation.NOT_JSON: Reason.NOT_JSON,
    Malformation.BINARY: Reason.NOT_JSON,
    Malformation.WRONG_TYPE: Reason.SCHEMA,
    Malformation.MISSING_FIELD: Reason.SCHEMA,
    Malformation.NOT_A_NUMBER: Reason.NON_FINITE,
    Malformation.INFINITE: Reason.NON_FINITE,
    Malformation.OUT_OF_RANGE: Reason.OUT_OF_RANGE,
    Malformation.UNKNOWN_SENSOR: Reason.UNKNOWN_SENSOR,
    Malformation.FUTURE: Reason.FUTURE_TIMESTAMP,
    Malformation.WRONG_UNIT: Reason.UNIT_UNKNOWN,
}


def corrupt(event: bytes, how: Malformation, at: datetime) -> bytes:
    """A malformed copy of the well-formed event ``event``, broken in the way ``how`` names.

    ``at`` is the wall-clock time of the check (a ``FUTURE`` event is two days past it).
    """
    if how is Malformation.NOT_JSON:
        return event[: len(event) // 2]
    if how is Malformation.BINARY:
        return b"\xff\xfe\x00" + event[:8]
    fields = json.loads(event)
    match how:
        case Malformation.WRONG_TYPE:
            fields["value"] = str(fields["value"])
        case Malformation.MISSING_FIELD:
            del fields["value"]
        case Malformation.NOT_A_NUMBER:
            fields["value"] = math.nan
        case Malformation.INFINITE:
            fields["value"] = -math.inf
        case Malformation.OUT_OF_RANGE:
            fields["value"] = KINDS[fields["kind"]].high * 10 + 1
        case Malformation.UNKNOWN_SENSOR:
            fields["sensor_id"] = "XX-00000.ghost"
        case Malformation.FUTURE:
            fields["observed_at"] = (at + timedelta(days=2)).isoformat()
        case Malformation.WRONG_UNIT:
            fields["unit"] = "furlong"
    return json.dumps(fields).encode()
