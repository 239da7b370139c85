"""HTTP ingest: a gateway's batch split into items, judged one by one, stored in Kafka before the answer."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiohttp import test_utils

from sensors.cleaning import DeadLetter, Reason
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.city import load_city
from streams.ingest.http_endpoint import build_app
from streams.kafka.topics import read_records
from streams.settings import Settings
from tests.conftest import Client
from tests.logins import DeviceLogin
from tests.unit.sensors.test_ingest import reading


async def topic_records(settings: Settings, name: str) -> list[tuple[bytes | None, bytes | None]]:
    return [(key, value) for _, key, value in await read_records(settings, settings.topic(name))]


@pytest.mark.services
async def test_a_mixed_batch_is_answered_item_by_item_after_kafka_stored_it(
    pipeline_settings: Settings, client: Client
) -> None:
    settings = pipeline_settings
    city: SiteRegistry = load_city(settings)
    pairs = list(city.sensors())[:3]
    good = [
        json.dumps(
            {
                "sensor_id": sensor.sensor_id,
                "site_id": site.site_id,
                "kind": sensor.kind,
                "value": 1.5,
                "unit": sensor.unit,
                "observed_at": "2026-11-29T01:00:00Z",
                "seq": n,
            },
            indent=2,
        )
        for n, (site, sensor) in enumerate(pairs)
    ]
    bad = [
        '{"sensor_id": "GJ-00001.footfall"}',  # missing fields
        "NaN",
        '{"sensor_id": "S-7", "site_id": "S", "kind": "footfall", "value": Infinity, "unit": "count/min",'
        ' "observed_at": "2026-11-29T01:00:00Z", "seq": 1}',
        '"just a string"',
        json.dumps({**reading(), "observed_at": "2026-11-29T01:00:00"}),  # naive time
    ]
    items = [good[0], bad[0], bad[1], good[1], bad[2], bad[3], good[2], bad[4]]
    body = ("[" + ",\n".join(items) + "]").encode()

    response = await client.post("/v1/readings", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200
    answer = await response.json()
    # Stored before the answer: both topics hold the batch already, without waiting.
    raw = await topic_records(settings, "readings.raw")
    letters = await topic_records(settings, "readings.deadletter")

    assert (answer["accepted"], answer["rejected"]) == (3, 5)
    assert [item["index"] for item in answer["items"]] == list(range(8))
    assert [item["status"] for item in answer["items"]] == [
        "accepted" if item in good else "rejected" for item in items
    ]
    reasons = [item.get("reason") for item in answer["items"]]
    assert reasons == [None, "schema", "schema", None, "non_finite", "schema", None, "schema"]
    assert all(item["detail"] for item in answer["items"] if item["status"] == "rejected")
    assert "observed_at: Input should have timezone info" in answer["items"][7]["detail"]

    # Accepted items are stored as they were sent (here pretty-printed), keyed by their sensor.
    assert Counter(raw) == Counter(
        (sensor.sensor_id.encode(), item.encode()) for (_, sensor), item in zip(pairs, good, strict=True)
    )
    assert all(Reading.model_validate_json(value or b"") for _, value in raw)
    dead = [DeadLetter.model_validate_json(value or b"") for _, value in letters]
    assert sorted(letter.original for letter in dead) == sorted(item.encode() for item in bad)
    for letter in dead:
        assert (letter.stage, letter.source_topic, letter.source_partition, letter.source_offset) == (
            "http",
            "http",
            -1,
            -1,
        )
        assert base64.b64decode(letter.original_b64) == letter.original
    by_original = {letter.original: letter for letter in dead}
    assert by_original[bad[2].encode()].reason is Reason.NON_FINITE
    assert by_original[bad[2].encode()].key == "S-7"
    assert Counter(key for key, _ in letters) == Counter(
        [None, None, b"GJ-00001.footfall", b"GJ-00001.footfall", b"S-7"]
    )


@pytest.mark.services
async def test_an_empty_array_stores_nothing(pipeline_settings: Settings, client: Client) -> None:
    response = await client.post("/v1/readings", data=b"[]")
    assert response.status == 200
    assert await response.json() == {"accepted": 0, "rejected": 0, "items": []}
    assert await topic_records(pipeline_settings, "readings.raw") == []


@pytest.mark.services
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"sensor_id": "S1"}', "not_an_array"),
        (b"[{oops}]", "not_json"),
        (b"", "not_json"),
    ],
)
async def test_a_body_that_is_not_an_array_is_a_400_and_stores_nothing(
    pipeline_settings: Settings,
    client: Client,
    body: bytes,
    error: str,
) -> None:
    response = await client.post("/v1/readings", data=body)
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == error and answer["detail"]
    assert await topic_records(pipeline_settings, "readings.raw") == []
    assert await topic_records(pipeline_settings, "readings.deadletter") == []


@pytest.mark.services
async def test_a_body_over_the_limit_is_a_413_with_or_without_a_length(
    pipeline_settings: Settings, device: DeviceLogin
) -> None:
    settings = pipeline_settings.model_copy(update={"ingest_max_body_bytes": 1000})
    body = json.dumps([reading(seq=n) for n in range(20)]).encode()
    assert len(body) > 1000

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    server = test_utils.TestServer(build_app(settings))
    async with test_utils.TestClient(server, headers=device.authorization) as client:
        response = await client.post("/v1/readings", data=body)
        assert response.status == 413
        assert await response.json() == {
            "error": "too_large",
            "detail": f"the body is {len(body):,} bytes, more than the 1,000 bytes accepted"
            " (OPENLAB_INGEST_MAX_BODY_BYTES): send smaller batches",
        }
        response = await client.post("/v1/readings", data=chunks())  # chunked: no Content-Length
        assert response.status == 413
        assert (await response.json())["detail"].startswith("the body is more than the 1,000 bytes accepted")
        small = json.dumps([reading()]).encode()
        response = await client.post("/v1/readings", data=small)
        assert response.status == 200
    assert await topic_records(settings, "readings.raw") == [(b"GJ-00001.footfall", small[1:-1])]


@pytest.mark.services
async def test_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
