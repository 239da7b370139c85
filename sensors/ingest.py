"""Batches of readings pushed by gateways: a JSON array split into its items, each judged alone.

Each item keeps its exact original bytes (as they were in the body), so an accepted item is
stored as the gateway sent it and a rejected one is dead-lettered as it was. An item is accepted
when it is a well-formed Reading (:func:`sensors.cleaning.parse`); the city's rules (registered
sensor, unit, range, event time) are applied later by the worker's cleaner, as for any event.

>>> body = b'[{"sensor_id": "S1"},  42 ]'
>>> split_json_array(body)
[b'{"sensor_id": "S1"}', b'42']
>>> [entry["status"] for entry in judge_batch(split_json_array(body)).answer()["items"]]
['rejected', 'rejected']
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sensors.cleaning import DeadLetter, Rejection, parse
from sensors.reading import Reading

_DECODER = json.JSONDecoder(parse_int=float)
"""Splitting looks only at where items end and what type a body is: integers are read as floats,
since ``int()`` refuses one of over 4,300 digits (a ValueError out of the split: a 500)."""
_SPACE = " \t\n\r"


class BatchError(ValueError):
    """A body that is not a JSON array: ``code`` (``not_json``, ``not_an_array``) and a precise ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _where(text: str, at: int) -> str:
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return f"line {line} column {column} (char {at})"


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def split_json_array(body: bytes) -> list[bytes]:
    """The exact bytes of each item of the JSON array ``body``, or :class:`BatchError` saying why not.

    >>> split_json_array(b' [ ] ')
    []
    >>> split_json_array(b'{"sensor_id": "S1"}')
    Traceback (most recent call last):
    ...
    sensors.ingest.BatchError: the body is an object, not an array of readings: send [reading, ...]
    >>> split_json_array(b'[{"a": 1}, {"b": }]')
    Traceback (most recent call last):
    ...
    sensors.ingest.BatchError: item 1 is not JSON: Expecting value at line 1 column 18 (char 17)
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BatchError(
            "not_json", f"the body is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    at = _skip_space(text, 1 if text.startswith("\ufeff") else 0)
    if at == len(text):
        raise BatchError("not_json", "the body is empty: send a JSON array of readings")
    if text[at] != "[":
        try:
            value = _DECODER.decode(text[at:])
        except (ValueError, RecursionError) as error:
            raise BatchError("not_json", f"the body is not JSON: {error}") from None
        raise BatchError(
            "not_an_array", f"the body is {_json_type(value)}, not an array of readings: send [reading, ...]"
        )
    items: list[bytes] = []
    at = _skip_space(text, at + 1)
    if at < len(text) and text[at] == "]":
        at += 1
    else:
        while True:
            try:
                _, end = _DECODER.raw_decode(text, at)
            except json.JSONDecodeError as error:
                raise BatchError(
                    "not_json", f"item {len(items)} is not JSON: {error.msg} at {_where(text, error.pos)}"
                ) from None
            except RecursionError:
                raise BatchError("not_json", f"item {len(items)} is nested too deeply") from None
            items.append(text[at:end].encode("utf-8"))
            at = _skip_space(text, end)
            if at < len(text) and text[at] == ",":
                at = _skip_space(text, at + 1)
                continue
            if at < len(text) and text[at] == "]":
                at += 1
                break
            raise BatchError(
                "not_json",
                f"the array is not closed: expected ',' or ']' after item {len(items) - 1}"
                f" at {_where(text, at)}",
            )
    at = _skip_space(text, at)
    if at != len(text):
        raise BatchError("not_json", f"extra data after the array at {_where(text, at)}")
    return items


def sensor_key(raw: bytes) -> bytes | None:
    """The Kafka key of a raw event: its ``sensor_id`` if it is a JSON object with a string one.

    >>> sensor_key(b'{"sensor_id": "S1", "value": "oops"}'), sensor_key(b'[1]'), sensor_key(b'{oops')
    (b'S1', None, None)
    """
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    sensor_id = event.get("sensor_id") if isinstance(event, dict) else None
    return sensor_id.encode("utf-8", "backslashreplace") if isinstance(sensor_id, str) and sensor_id else None


@dataclass(frozen=True, slots=True)
class JudgedBatch:
    """Each item's original bytes and verdict, in the order of the array."""

    items: tuple[bytes, ...]
    verdicts: tuple[Reading | Rejection, ...]

    def accepted(self) -> list[tuple[bytes, bytes]]:
        """``(key, original bytes)`` of each accepted item, keyed by its sensor id."""
        return [
            (verdict.sensor_id.encode(), raw)
            for raw, verdict in zip(self.items, self.verdicts, strict=True)
            if isinstance(verdict, Reading)
        ]

    def dead_letters(
        self, *, stage: str, source: tuple[str, int, int], at: datetime
    ) -> list[tuple[bytes | None, bytes]]:
        """``(key, DeadLetter JSON)`` of each rejected item, keyed by its sensor id when it has one."""
        letters = []
        for raw, verdict in zip(self.items, self.verdicts, strict=True):
            if isinstance(verdict, Rejection):
                letter = DeadLetter.of(
                    verdict, stage=stage, original=raw, key=sensor_key(raw), source=source, at=at
                )
                letters.append(letter.record())
        return letters

    def outside(self, sites: Collection[str]) -> list[tuple[int, Reading]]:
        """The accepted items (index, reading) of a site not in ``sites``.

        >>> item = b'{"sensor_id": "S2.x", "site_id": "S2", "kind": "x", "value": 1.0, "unit": "u",' \\
        ...        b' "observed_at": "2026-11-29T01:00:00Z", "seq": 1}'
        >>> [(index, reading.site_id) for index, reading in judge_batch([item, b"1"]).outside({"S1"})]
        [(0, 'S2')]
        """
        return [
            (index, verdict)
            for index, verdict in enumerate(self.verdicts)
            if isinstance(verdict, Reading) and verdict.site_id not in sites
        ]

    def answer(self) -> dict[str, Any]:
        """The response body: counts, and each item's status (with the reason of a rejection)."""
        entries: list[dict[str, Any]] = []
        for index, verdict in enumerate(self.verdicts):
            if isinstance(verdict, Rejection):
                entries.append(
                    {
                        "index": index,
                        "status": "rejected",
                        "reason": verdict.reason.value,
                        "detail": verdict.detail,
                    }
                )
            else:
                entries.append({"index": index, "status": "accepted"})
        accepted = sum(1 for verdict in self.verdicts if isinstance(verdict, Reading))
        return {"accepted": accepted, "rejected": len(self.verdicts) - accepted, "items": entries}


def judge_batch(items: Sequence[bytes]) -> JudgedBatch:
    """Each item parsed as a Reading on its own (:func:`sensors.cleaning.parse`)."""
    return JudgedBatch(tuple(items), tuple(parse(Reading, raw) for raw in items))
