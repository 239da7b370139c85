"""Garbage: Hypothesis strategies for what a door of the city may be sent instead of a reading.

Each draw is one :class:`Garbage` item: the bytes, a phrase saying what is wrong with them, the
reasons a dead letter may give for it, and the sensor it poses as (its Kafka key, its MQTT
topic). There is garbage of every kind a device, a gateway or an attacker may send: random
bytes, random JSON, JSON nested thousands of levels deep, events of up to a megabyte, Unicode
edge cases (lone surrogates, invalid UTF-8, byte order marks, null bytes, control and
invisible characters), and readings that are almost valid: one field broken (a wrong type, NaN
or Infinity as JSON tokens, a value outside what its kind can measure, an unknown sensor, a
sensor under another site, an unknown unit, a time far in the future or far behind its sensor's
latest reading, a malformed time, a negative or huge ``seq``, a missing or extra field), or
valid but under a topic or a Kafka key that is not its own.

The strategies are told the city and the span of the valid readings the garbage is mixed with
(:class:`Valid`): a reading "too late" is years behind the first valid reading of its sensor,
which must have reached the worker before it (the test sends every sensor's first reading
first). :func:`draw` takes many items at once, the same on every run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sensors.catalog import KINDS
from sensors.cleaning import MAX_EVENT_BYTES, Reason
from sensors.sites import SiteRegistry

NOT_JSON = frozenset({Reason.NOT_JSON})
SCHEMA = frozenset({Reason.SCHEMA})
SHAPELESS = frozenset({Reason.NOT_JSON, Reason.SCHEMA})
"""Random bytes or JSON nested too deeply: not JSON, or JSON that is not an object (a size over
the limit is ``schema`` too)."""
ANY_SHAPE = frozenset({Reason.NOT_JSON, Reason.SCHEMA, Reason.NON_FINITE})
"""Random JSON: the first error may be a missing field, a wrong type or a NaN."""


@dataclass(frozen=True, slots=True)
class Garbage:
    """One item of garbage and what must become of it."""

    payload: bytes
    flaw: str
    """What is wrong with it, for a failure message."""
    reasons: frozenset[Reason]
    """The reasons its dead letter may give."""
    site_id: str
    sensor_id: str
    """The sensor it poses as: the levels of its MQTT topic."""
    key: bytes | None
    """Its Kafka key when sent straight to ``readings.raw``."""


@dataclass(frozen=True, slots=True)
class Valid:
    """The valid readings the garbage is mixed with: their city, the first one's time (every
    sensor has a reading at ``start`` or after, sent before the garbage), and the rules of the
    worker that judges them."""

    city: SiteRegistry
    start: datetime
    max_future: timedelta
    lateness: timedelta


Tokens = dict[str, bytes]
"""A JSON object as its fields' raw JSON text, so that a field can hold any token at all."""

_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_REQUIRED = ("sensor_id", "site_id", "kind", "value", "unit", "observed_at")
_STRINGS = ("sensor_id", "site_id", "kind", "unit", "observed_at")


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _encode(tokens: Tokens) -> bytes:
    return b"{" + b", ".join(_json(name) + b": " + token for name, token in tokens.items()) + b"}"


def _item(payload: bytes, flaw: str, reasons: frozenset[Reason], tokens: Tokens | None = None) -> Garbage:
    """Garbage posing as the sensor of ``tokens`` (a reading's fields) when they name one that can
    be an MQTT topic level, else as a sensor of no site; over the size limit it is ``schema``."""
    site_id, sensor_id = _identity(tokens or {})
    if len(payload) > MAX_EVENT_BYTES:
        reasons = SCHEMA
    return Garbage(payload, flaw, reasons, site_id, sensor_id, sensor_id.encode())


def _identity(tokens: Tokens) -> tuple[str, str]:
    names = []
    for field in ("site_id", "sensor_id"):
        try:
            name = json.loads(tokens.get(field, b"null"))
        except ValueError:
            name = None
        names.append(name if isinstance(name, str) and _IDENTIFIER.fullmatch(name) else "nowhere")
    return names[0], names[1]


# --- readings and their flaws -----------------------------------------------------------------


def readings(valid: Valid) -> st.SearchStrategy[Tokens]:
    """The fields of a valid reading of one of the city's sensors, during the valid readings' span."""
    sensors = st.sampled_from(
        [(site.site_id, sensor.sensor_id, sensor.kind) for site, sensor in valid.city.sensors()]
    )

    @st.composite
    def build(draw: st.DrawFn) -> Tokens:
        site_id, sensor_id, kind_name = draw(sensors)
        kind = KINDS[kind_name]
        at = valid.start + timedelta(microseconds=draw(_within_an_hour))
        tokens = {
            "sensor_id": _json(sensor_id),
            "site_id": _json(site_id),
            "kind": _json(kind_name),
            "value": _json(kind.low + draw(_fractions) * (kind.high - kind.low)),
            "unit": _json(kind.unit),
            "observed_at": _json(at.isoformat()),
        }
        seq = draw(_seqs)
        if seq is not None:
            tokens["seq"] = _json(seq)
        return tokens

    return build()


_within_an_hour = st.integers(0, 3600 * 10**6)
_fractions = st.floats(0, 1)
_seqs = st.none() | st.integers(0, 2**63 - 1)


Flaw = Callable[[st.DrawFn, Tokens], Garbage]

_WRONG_TYPES: dict[str, list[bytes]] = {
    "sensor_id": [b"42", b"true", b"null", b"[]", b"{}", b'["GJ-00001.footfall"]'],
    "site_id": [b"7", b"false", b"null", b"[]", b'{"site_id": "GJ-00001"}'],
    "kind": [b"0", b"true", b"null", b'["footfall"]'],
    "value": [b'"12.5"', b"true", b"false", b"null", b"[1.0]", b'{"value": 1.0}', b'"NaN"', b'"Infinity"'],
    "unit": [b"1", b"true", b"null", b'["ug/m3"]', b"{}"],
    "observed_at": [b"1764374400", b"1764374400.5", b"true", b"null", b"[]", b'{"$date": 1}'],
    "seq": [b'"1"', b"1.5", b"1e3", b"true", b"[]", b"{}", b'"-1"'],
    "quality": [b'"flatline"', b"[1]", b"{}", b"[null]", b"7", b"null"],
}


def _wrong_type(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    field = draw(st.sampled_from(sorted(_WRONG_TYPES)))
    token = draw(st.sampled_from(_WRONG_TYPES[field]))
    payload = _encode({**tokens, field: token})
    return _item(payload, f"{field} is {token.decode()}", SCHEMA, tokens)


def _missing_or_extra(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    if draw(st.booleans()):
        field = draw(st.sampled_from(_REQUIRED))
        return _item(_encode({k: v for k, v in tokens.items() if k != field}), f"no {field}", SCHEMA, tokens)
    name = draw(st.text(max_size=20).filter(lambda n: n not in (*_REQUIRED, "seq", "quality")))
    payload = _encode({**tokens, name: _json(draw(_plain_scalars))})
    return _item(payload, f"an extra field {name!r}", SCHEMA, tokens)


def _not_finite(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    token = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"]))
    field = draw(st.sampled_from(["value", "value", "value", "seq", "observed_at"]))
    reasons = frozenset({Reason.NON_FINITE}) if field == "value" else frozenset({Reason.SCHEMA})
    return _item(_encode({**tokens, field: token}), f"{field} is {token.decode()}", reasons, tokens)


def _out_of_range(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    kind = KINDS[json.loads(tokens["kind"])]
    if draw(st.booleans()):
        value = draw(st.floats(min_value=kind.high, exclude_min=True, allow_infinity=False))
    else:
        value = draw(st.floats(max_value=kind.low, exclude_max=True, allow_infinity=False))
    payload = _encode({**tokens, "value": _json(value)})
    return _item(payload, f"{kind.name} of {value!r}", frozenset({Reason.OUT_OF_RANGE}), tokens)


def _unknown_sensor(draw: st.DrawFn, tokens: Tokens, valid: Valid) -> Garbage:
    sensor_id = draw(
        st.from_regex(_IDENTIFIER, fullmatch=True).filter(lambda s: valid.city.sensor(s) is None)
    )
    changed = {**tokens, "sensor_id": _json(sensor_id)}
    return _item(
        _encode(changed), f"unknown sensor {sensor_id!r}", frozenset({Reason.UNKNOWN_SENSOR}), changed
    )


def _another_site_or_kind(draw: st.DrawFn, tokens: Tokens, valid: Valid) -> Garbage:
    if draw(st.booleans()):
        site_id = json.loads(tokens["site_id"])
        others = [site.site_id for site in valid.city.sites if site.site_id != site_id]
        field, value = "site_id", draw(st.sampled_from(others) | st.from_regex(_IDENTIFIER, fullmatch=True))
        if value == site_id:
            value += "x"
    else:
        field, value = "kind", draw(st.sampled_from(sorted(set(KINDS) - {json.loads(tokens["kind"])})))
    changed = {**tokens, field: _json(value)}
    return _item(_encode(changed), f"{field} {value!r}", frozenset({Reason.SENSOR_MISMATCH}), changed)


def _unknown_unit(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    kind = KINDS[json.loads(tokens["kind"])]
    units = {kind.unit, *kind.alternative_units}
    unit = draw(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=16).filter(lambda u: u not in units)
    )
    token = json.dumps(unit, ensure_ascii=draw(st.booleans())).encode()
    return _item(
        _encode({**tokens, "unit": token}), f"unit {unit!r}", frozenset({Reason.UNIT_UNKNOWN}), tokens
    )


def _future(draw: st.DrawFn, tokens: Tokens, valid: Valid) -> Garbage:
    """Beyond ``max_future`` of a clock up to an hour after the valid readings' span."""
    earliest = valid.start + timedelta(hours=2) + valid.max_future
    at = draw(st.datetimes(min_value=earliest.replace(tzinfo=None), timezones=st.just(UTC)))
    payload = _encode({**tokens, "observed_at": _json(at.isoformat())})
    return _item(payload, f"observed at {at.isoformat()}", frozenset({Reason.FUTURE_TIMESTAMP}), tokens)


def _too_late(draw: st.DrawFn, tokens: Tokens, valid: Valid) -> Garbage:
    """Behind its sensor's first valid reading by more than the lateness allowed (a duplicate, if
    that reading took its ``seq``)."""
    latest = valid.start - valid.lateness - timedelta(seconds=1)
    at = draw(st.datetimes(max_value=latest.replace(tzinfo=None), timezones=st.just(UTC)))
    payload = _encode({**tokens, "observed_at": _json(at.isoformat())})
    return _item(
        payload, f"observed at {at.isoformat()}", frozenset({Reason.TOO_LATE, Reason.DUPLICATE}), tokens
    )


_MALFORMED_TIMES = [
    "2026-11-29T01:00:00",  # no time zone
    "2026-11-29",
    "2026-11-29 01:00",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-29T25:00:00Z",
    "2026-11-29T01:00:00+25:00",
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "yesterday",
    "",
    "2026-11-29T01:00:00Z\u0000",
    "\u0662\u0660\u0662\u0666-11-29T01:00:00Z",  # Arabic-Indic digits
]


def _malformed_time(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    text = draw(st.sampled_from(_MALFORMED_TIMES))
    payload = _encode({**tokens, "observed_at": _json(text)})
    return _item(payload, f"observed_at {text!r}", SCHEMA, tokens)


def _bad_seq(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    seq = draw(st.integers(max_value=-1) | st.integers(min_value=2**63) | st.just(-(2**63)) | st.just(10**30))
    if draw(st.integers(0, 9)) == 0:  # more digits than int() or the Reading parser take
        digits = b"9" * draw(st.integers(4300, 6000))
        return _item(_encode({**tokens, "seq": digits}), f"seq of {len(digits)} digits", SHAPELESS, tokens)
    return _item(_encode({**tokens, "seq": _json(seq)}), f"seq {seq}", SCHEMA, tokens)


def _bad_identifier(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    field = draw(st.sampled_from(["sensor_id", "site_id", "kind"]))
    name = draw(
        st.sampled_from(["", "x" * 65, "GJ 00001", "GJ/00001", "+", "#", "\u202eGJ-00001", "GJ\u200b-00001"])
        | st.text(st.characters(codec="utf-8"), max_size=70).filter(lambda n: not _IDENTIFIER.fullmatch(n))
    )
    token = json.dumps(name, ensure_ascii=draw(st.booleans())).encode()
    return _item(_encode({**tokens, field: token}), f"{field} {name!r}", SCHEMA, tokens)


_SURROGATES = [rb"\ud800", rb"\udbff", rb"\udc00", rb"\udfff", rb"\udc00\ud800", rb"GJ\ud83d"]
_INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc0\xaf",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
]
_RAW_CONTROLS = [b"\x00", b"\x01", b"\x1f", b"\n", b"\t", b"\x7f\x00"]


def _broken_text(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    """A string field with a lone surrogate, invalid UTF-8 or a raw control character in it."""
    field = draw(st.sampled_from([*_STRINGS, "quality"]))
    inside = draw(st.sampled_from([*_SURROGATES, *_INVALID_UTF8, *_RAW_CONTROLS]))
    if inside == b"\x7f\x00" or inside not in _RAW_CONTROLS:
        flaw = f"{field} holds {inside!r}"
    else:
        flaw = f"{field} holds the raw control character {inside!r}"
    token = b'"' + inside + b'"'
    if field == "quality":
        token = b"[" + token + b"]"
    elif field in _STRINGS:
        text = json.loads(tokens[field])
        token = b'"' + text[: len(text) // 2].encode() + inside + text[len(text) // 2 :].encode() + b'"'
    return _item(_encode({**tokens, field: token}), flaw, NOT_JSON, tokens)


def _wrapped(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    """A reading with a byte order mark or null bytes around it, in another encoding, or twice."""
    reading = _encode(tokens)
    text = reading.decode()
    forms = {
        "a UTF-8 byte order mark first": b"\xef\xbb\xbf" + reading,
        "a null byte first": b"\x00" + reading,
        "a null byte last": reading + b"\x00",
        "null bytes between its fields": reading.replace(b", ", b",\x00 "),
        "UTF-16 with a byte order mark": text.encode("utf-16"),
        "UTF-16 big-endian": text.encode("utf-16-be"),
        "UTF-32": text.encode("utf-32"),
        "two readings in one event": reading + reading,
        "the reading cut short": reading[: draw(st.integers(0, len(reading) - 1))],
    }
    flaw = draw(st.sampled_from(sorted(forms)))
    return _item(forms[flaw], flaw, NOT_JSON, tokens)


def _reshaped(draw: st.DrawFn, tokens: Tokens) -> Garbage:
    """A reading that is not an object: in an array, or as a JSON string."""
    reading = _encode(tokens)
    forms = {
        "a reading in an array": b"[" + reading + b"]",
        "a reading as a JSON string": _json(reading.decode()),
    }
    flaw = draw(st.sampled_from(sorted(forms)))
    return _item(forms[flaw], flaw, SCHEMA, tokens)


def almost_valid(valid: Valid) -> st.SearchStrategy[Garbage]:
    """A reading of the city with exactly one thing wrong with it."""
    flaws: list[Flaw] = [
        _wrong_type,
        _missing_or_extra,
        _not_finite,
        _out_of_range,
        lambda draw, tokens: _unknown_sensor(draw, tokens, valid),
        lambda draw, tokens: _another_site_or_kind(draw, tokens, valid),
        _unknown_unit,
        lambda draw, tokens: _future(draw, tokens, valid),
        lambda draw, tokens: _too_late(draw, tokens, valid),
        _malformed_time,
        _bad_seq,
        _bad_identifier,
        _broken_text,
        _wrapped,
        _reshaped,
    ]

    flaw_of = st.sampled_from(flaws)
    reading = readings(valid)

    @st.composite
    def build(draw: st.DrawFn) -> Garbage:
        flaw = draw(flaw_of)
        return flaw(draw, draw(reading))

    return build()


# --- shapeless garbage ------------------------------------------------------------------------

_plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"))
)
_scalars = (
    _plain_scalars
    | st.floats()
    | st.text(st.characters(categories=["Cs"]), min_size=1)  # lone surrogates, escaped by json.dumps
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=8,
)
"""Any JSON value (``NaN`` and ``Infinity`` as bare tokens, lone surrogates as escapes)."""


def _posing_as(valid: Valid) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from([(site.site_id, sensor.sensor_id) for site, sensor in valid.city.sensors()])


def shapeless(valid: Valid) -> st.SearchStrategy[Garbage]:
    """Random bytes, random JSON (also as objects with a reading's field names) and JSON nested up
    to 10,000 levels deep, posing as a sensor of the city; sent to Kafka with its key, none or
    random bytes."""

    @st.composite
    def build(draw: st.DrawFn) -> Garbage:
        form = draw(st.sampled_from(["bytes", "json", "fields", "deep"]))
        if form == "bytes":
            payload, flaw, reasons = draw(st.binary(max_size=2000)), "random bytes", SHAPELESS
        elif form == "json":
            payload, flaw, reasons = _json_bytes(draw, draw(json_values)), "random JSON", ANY_SHAPE
        elif form == "fields":
            fields = draw(st.fixed_dictionaries({name: _scalars for name in _REQUIRED}))
            payload, flaw = _json_bytes(draw, fields), "random JSON under a reading's field names"
            reasons = ANY_SHAPE | {Reason.UNKNOWN_SENSOR, Reason.SENSOR_MISMATCH}
        else:
            payload, flaw = _deep(draw)
            reasons = SHAPELESS
        site_id, sensor_id = draw(_posing_as(valid))
        key = draw(st.sampled_from([sensor_id.encode(), None]) | st.binary(max_size=40))
        return Garbage(
            payload, flaw, SCHEMA if len(payload) > MAX_EVENT_BYTES else reasons, site_id, sensor_id, key
        )

    return build()


def _json_bytes(draw: st.DrawFn, value: object) -> bytes:
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def _deep(draw: st.DrawFn) -> tuple[bytes, str]:
    depth = draw(st.integers(100, 10_000))
    forms = {
        "arrays": b"[" * depth + b"]" * depth,
        "unclosed arrays": b"[" * depth,
        "objects": b'{"a":' * depth + b"1" + b"}" * depth,
        "a reading whose value is nested": b'{"value": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}",
    }
    form = draw(st.sampled_from(sorted(forms)))
    return forms[form], f"{form} {depth} levels deep"


def huge(valid: Valid) -> st.SearchStrategy[Garbage]:
    """An event over the size limit, up to a megabyte: a reading with a huge string, list or
    padding in it, or a huge array; or a small one under a key of up to half a megabyte."""

    reading = readings(valid)

    @st.composite
    def build(draw: st.DrawFn) -> Garbage:
        tokens = draw(reading)
        size = draw(_sizes)
        escaped = _json(draw(st.characters(codec="utf-8")))[1:-1]  # as JSON writes it in a string
        string = b'"' + escaped * max(1, size // len(escaped)) + b'"'
        forms = {
            "a huge unit": {**tokens, "unit": string},
            "a huge extra field": {**tokens, "note": string},
            "a huge quality list": {**tokens, "quality": b"[" + b",".join([b'"x"'] * (size // 4)) + b"]"},
            "a huge sensor_id": {**tokens, "sensor_id": _json("x" * size)},
        }
        form = draw(st.sampled_from([*sorted(forms), "spaces around it", "a huge array", "a huge key"]))
        if form == "a huge key":  # on Kafka; a reading cut short, as the event
            key = draw(st.binary(min_size=1, max_size=3)) * (size // 2)
            item = _item(
                _encode(tokens)[:-1], f"a reading cut short under a key of {len(key):,} bytes", NOT_JSON
            )
            return replace(item, key=key)
        if form == "spaces around it":
            payload = b" " * size + _encode(tokens)
        elif form == "a huge array":
            payload = b"[" + b",".join([b"1.5"] * (size // 4)) + b"]"
        else:
            payload = _encode(forms[form])
        return _item(payload, f"{form} ({len(payload):,} bytes)", SCHEMA, tokens)

    return build()


_sizes = st.sampled_from([MAX_EVENT_BYTES + 1, 2**16 + 1, 1_000_000]) | st.integers(
    MAX_EVENT_BYTES + 1, 1_000_000
)
"""Sizes of huge events: just over the limit, over what a dead letter keeps of it, a megabyte."""


def misaddressed(valid: Valid) -> st.SearchStrategy[Garbage]:
    """A valid reading under a topic that is not its own: another sensor's, another site's, or a
    topic with an empty or odd level (MQTT only: only a topic can say so). A topic outside the
    gateway's subscription (``city/+/+``) reaches no one: the broker answers "no matching
    subscribers"."""

    @st.composite
    def build(draw: st.DrawFn) -> Garbage:
        tokens = draw(readings(valid))
        site_id, sensor_id = json.loads(tokens["site_id"]), json.loads(tokens["sensor_id"])
        other_site, other_sensor = draw(_posing_as(valid).filter(lambda pair: pair[1] != sensor_id))
        level = st.text(
            st.characters(
                codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="/+#"
            ),
            min_size=1,
            max_size=20,
        )
        addresses = {
            "another sensor's topic": (other_site, other_sensor),
            "its sensor under another site": (other_site, sensor_id),
            "another sensor of its site": (site_id, other_sensor),
            "an empty site level": ("", sensor_id),
            "odd topic levels": (draw(level), draw(level)),
        }
        flaw = draw(st.sampled_from(sorted(addresses)))
        topic_site, topic_sensor = addresses[flaw]
        if (topic_site, topic_sensor) == (site_id, sensor_id):
            topic_sensor += "x"
        return Garbage(_encode(tokens), flaw, SCHEMA, topic_site, topic_sensor, topic_sensor.encode())

    return build()


def mis_keyed(valid: Valid) -> st.SearchStrategy[Garbage]:
    """A valid reading under a Kafka key that is not its sensor id: none, another sensor's, or
    random bytes (straight into ``readings.raw`` only: only a record has a key)."""
    reading = readings(valid)
    others = st.sampled_from([sensor.sensor_id.encode() for _, sensor in valid.city.sensors()])

    @st.composite
    def build(draw: st.DrawFn) -> Garbage:
        tokens = draw(reading)
        own = json.loads(tokens["sensor_id"]).encode()
        key = draw((st.none() | others | st.binary(max_size=70)).filter(lambda key: key != own))
        item = _item(_encode(tokens), f"a valid reading under the key {key!r}", SCHEMA, tokens)
        return replace(item, key=key)

    return build()


def garbage(valid: Valid) -> st.SearchStrategy[Garbage]:
    """Almost valid readings (two in three) and shapeless garbage: every small kind there is."""
    return st.one_of(almost_valid(valid), almost_valid(valid), shapeless(valid))


# --- drawing many at once ---------------------------------------------------------------------

G = TypeVar("G", bound=Hashable)


def draw(strategy: st.SearchStrategy[G], count: int) -> list[G]:
    """``count`` distinct examples of ``strategy``, the same ones on every run (derandomized).

    Many are drawn in lists of 25 distinct items (Hypothesis's own work per example is most of
    the time an item takes), with a fifth more than needed: lists may repeat an item of another
    list. Few are drawn one by one: Hypothesis starts with the simplest example (a list of the
    simplest items), then draws at random.
    """
    size = 25 if count >= 500 else 1
    drawn: dict[G, None] = {}

    @settings(
        max_examples=-(-count * 5 // 4 // size),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(strategy, min_size=size, max_size=size, unique=True))
    def collect(items: list[G]) -> None:
        drawn.update(dict.fromkeys(items))

    collect()
    assert len(drawn) >= count, f"Hypothesis drew {len(drawn)} distinct examples, not {count}"
    return list(drawn)[:count]
