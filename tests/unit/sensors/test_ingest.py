"""A gateway's batch split into items and judged one by one, without services."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sensors.cleaning import DeadLetter, Reason, Rejection
from sensors.ingest import BatchError, judge_batch, split_json_array

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def reading(sensor_id: str = "GJ-00001.footfall", value: float = 3.0, seq: int = 1) -> dict[str, object]:
    return {
        "sensor_id": sensor_id,
        "site_id": sensor_id.split(".")[0],
        "kind": sensor_id.split(".")[1],
        "value": value,
        "unit": "count/min",
        "observed_at": "2026-11-29T01:00:00+09:00",
        "seq": seq,
    }


# --- splitting a body --------------------------------------------------------------------------


def test_items_keep_their_exact_bytes() -> None:
    one = '{ "sensor_id" : "S1",\n  "note": "광주 ]," }'
    body = f'\ufeff[\n  {one} ,[1, [2]],"x" , 1e3,null\n]\n'.encode()
    assert split_json_array(body) == [one.encode(), b"[1, [2]]", b'"x"', b"1e3", b"null"]


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        (b"", "not_json", "the body is empty: send a JSON array of readings"),
        (b"  \n", "not_json", "the body is empty"),
        (b'{"sensor_id": "S1"}', "not_an_array", "the body is an object, not an array of readings"),
        (b'"readings"', "not_an_array", "the body is a string, not an array"),
        (b"12", "not_an_array", "the body is a number, not an array"),
        (b"null", "not_an_array", "the body is null, not an array"),
        (b"{oops", "not_json", "the body is not JSON: Expecting property name enclosed in double quotes"),
        (b"\xff[]", "not_json", "the body is not UTF-8 text (invalid start byte at byte 0)"),
        (
            b'[{"a": 1} {"b": 2}]',
            "not_json",
            "the array is not closed: expected ',' or ']' after item 0 at line 1",
        ),
        (
            b"[1, 2",
            "not_json",
            "the array is not closed: expected ',' or ']' after item 1 at line 1 column 6",
        ),
        (b"[1,]", "not_json", "item 1 is not JSON: Expecting value at line 1 column 4"),
        (b"[1]\n[2]", "not_json", "extra data after the array at line 2 column 1 (char 4)"),
        (b"[" * 100_000, "not_json", "item 0 is nested too deeply"),
    ],
)
def test_a_body_that_is_not_an_array_is_named_precisely(body: bytes, code: str, detail: str) -> None:
    with pytest.raises(BatchError) as caught:
        split_json_array(body)
    assert caught.value.code == code
    assert caught.value.detail.startswith(detail), caught.value.detail


def test_a_number_of_thousands_of_digits_is_split_like_any_value() -> None:
    """Python's int() refuses over 4,300 digits: the split raised a ValueError, a 500."""
    digits = b"9" * 5000
    assert split_json_array(b"[1, " + digits + b", -" + digits + b"]") == [b"1", digits, b"-" + digits]
    with pytest.raises(BatchError) as caught:
        split_json_array(digits)
    assert (caught.value.code, caught.value.detail) == (
        "not_an_array",
        "the body is a number, not an array of readings: send [reading, ...]",
    )
    (verdict,) = judge_batch([digits]).verdicts
    assert isinstance(verdict, Rejection) and verdict.reason is Reason.NOT_JSON


def test_each_item_is_judged_alone_and_answered_in_order() -> None:
    items = [json.dumps(reading()).encode(), b"42", json.dumps({**reading(), "value": "3"}).encode(), b"NaN"]
    batch = judge_batch(items)
    assert batch.answer() == {
        "accepted": 1,
        "rejected": 3,
        "items": [
            {"index": 0, "status": "accepted"},
            {
                "index": 1,
                "status": "rejected",
                "reason": "schema",
                "detail": "event: Input should be an object (1 error(s))",
            },
            {
                "index": 2,
                "status": "rejected",
                "reason": "schema",
                "detail": "value: Input should be a valid number (1 error(s))",
            },
            {
                "index": 3,
                "status": "rejected",
                "reason": "schema",
                "detail": "event: Input should be an object (1 error(s))",
            },
        ],
    }
    assert batch.accepted() == [(b"GJ-00001.footfall", items[0])]
    letters = batch.dead_letters(stage="http", source=("http", -1, -1), at=NOW)
    assert [key for key, _ in letters] == [None, b"GJ-00001.footfall", None]
    first = DeadLetter.model_validate_json(letters[1][1])
    assert (first.stage, first.reason, first.source_topic, first.source_partition, first.source_offset) == (
        "http",
        Reason.SCHEMA,
        "http",
        -1,
        -1,
    )
    assert first.original == items[2] and first.key == "GJ-00001.footfall" and first.rejected_at == NOW


# --- the server, on the real Kafka -------------------------------------------------------------
