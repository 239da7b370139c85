"""``openlab ingest``: an HTTP endpoint where gateways push batches of readings.

``POST /v1/readings`` takes a JSON array of readings from a device that shows its secret
(``Authorization: Bearer <secret>``, from ``openlab devices add``, :mod:`streams.ingest.devices`):
without one, or with one no device has, the answer is a 401. A batch with a well-formed reading
for a site the device may not write is a 403 naming those items, and nothing of it is stored.
Otherwise each item is judged on its own (:mod:`sensors.ingest`): a well-formed Reading is
accepted and goes, as it was sent, to ``readings.raw`` keyed by its sensor id; any other item is
rejected and goes to ``readings.deadletter`` (stage ``http``, source ``("http", -1, -1)``). The
answer (200) comes only after Kafka has acknowledged both, so a 200 means stored::

    {"accepted": 2, "rejected": 1, "items": [{"index": 0, "status": "accepted"},
     {"index": 1, "status": "rejected", "reason": "schema", "detail": "..."}, ...]}

A body that is not a JSON array is a 400, one over ``OPENLAB_INGEST_MAX_BODY_BYTES`` a 413, and a
batch Kafka did not acknowledge a 503 (send it again): each with ``{"error": code, "detail": ...}``.
``GET /healthz`` answers 200 when Kafka answers, else 503; it needs no token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import click
from aiohttp import web

from sensors.ingest import BatchError, judge_batch, split_json_array
from streams.ingest.devices import Login, TokenBook
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, ensure_topics
from streams.settings import Settings

log = logging.getLogger(__name__)

STAGE = "http"
SOURCE = ("http", -1, -1)
HEALTH_TIMEOUT_SECONDS = 5.0

SETTINGS = web.AppKey("settings", Settings)
PUBLISHER = web.AppKey("publisher", Publisher)
TOKENS = web.AppKey("tokens", TokenBook)


def _error(status: int, code: str, detail: str, **more: object) -> web.Response:
    return web.json_response({"error": code, "detail": detail, **more}, status=status)


def _unauthorized(request: web.Request, detail: str, invalid: bool) -> web.Response:
    log.warning("refused a batch from %s with a 401: %s", request.remote, detail)
    challenge = 'Bearer realm="openlab ingest"' + (', error="invalid_token"' if invalid else "")
    response = _error(401, "unauthorized", detail)
    response.headers["WWW-Authenticate"] = challenge
    return response


def _device(request: web.Request) -> Login | web.Response:
    """The device whose secret the request shows, or the 401 to answer."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized(
            request,
            "send the device's secret as 'Authorization: Bearer <secret>' (openlab devices add)",
            invalid=False,
        )
    device = request.app[TOKENS].device(token.strip())
    if device is None:
        return _unauthorized(request, "no device has this token (removed, or mistyped?)", invalid=True)
    return device


def _too_large(size: str, limit: int) -> web.Response:
    return _error(
        413,
        "too_large",
        f"the body is {size} than the {limit:,} bytes accepted (OPENLAB_INGEST_MAX_BODY_BYTES):"
        " send smaller batches",
    )


async def post_readings(request: web.Request) -> web.Response:
    settings, publisher = request.app[SETTINGS], request.app[PUBLISHER]
    device = _device(request)
    if isinstance(device, web.Response):
        return device
    limit = settings.ingest_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _too_large(f"{request.content_length:,} bytes, more", limit)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _too_large("more", limit)
    try:
        items = split_json_array(body)
    except BatchError as error:
        return _error(400, error.code, error.detail)
    batch = judge_batch(items)
    outside = batch.outside(device.sites)
    if outside:
        index, first = outside[0]
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        detail = (
            f"device {device.name!r} may write sites {', '.join(device.sites)} only: item {index} is"
            f" sensor {first.sensor_id!r} of site {first.site_id!r}{more}; nothing of the batch was stored"
        )
        log.warning("refused a batch from %s with a 403: %s", request.remote, detail)
        return _error(
            403,
            "forbidden",
            detail,
            items=[
                {"index": index, "sensor_id": reading.sensor_id, "site_id": reading.site_id}
                for index, reading in outside
            ],
        )
    names = TopicNames.of(settings)
    letters = batch.dead_letters(stage=STAGE, source=SOURCE, at=datetime.now(UTC))
    try:
        await asyncio.gather(
            publisher.publish(names.raw, batch.accepted()), publisher.publish(names.deadletter, letters)
        )
    except Exception as error:
        log.exception("a batch of %d readings was not acknowledged by Kafka", len(items))
        return _error(
            503,
            "not_stored",
            f"Kafka did not acknowledge the batch ({type(error).__name__}: {error}); it may be partly"
            " stored: send it again (a reading stored twice is written once to InfluxDB)",
        )
    return web.json_response(batch.answer())


async def healthz(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    try:
        await publisher.start()
        await asyncio.wait_for(publisher.producer.client.fetch_all_metadata(), HEALTH_TIMEOUT_SECONDS)
    except Exception as error:
        return web.json_response({"status": "unavailable", "detail": f"Kafka: {error!r}"}, status=503)
    return web.json_response({"status": "ok"})


def build_app(settings: Settings, publisher: Publisher | None = None) -> web.Application:
    """The ingest web app; it starts (and at the end stops) ``publisher`` (default: a new one)."""
    app = web.Application(client_max_size=settings.ingest_max_body_bytes)
    app[SETTINGS] = settings
    app[PUBLISHER] = publisher or Publisher(settings)
    app[TOKENS] = TokenBook(settings)
    app.router.add_post("/v1/readings", post_readings)
    app.router.add_get("/healthz", healthz)

    async def kafka(app: web.Application) -> AsyncIterator[None]:
        await ensure_topics(settings)
        await app[PUBLISHER].start()
        yield
        await app[PUBLISHER].stop()

    app.cleanup_ctx.append(kafka)
    return app


@click.command(name="ingest")
@click.option("--host", default=None, help="Listen address (default: OPENLAB_INGEST_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: OPENLAB_INGEST_PORT).")
def ingest(host: str | None, port: int | None) -> None:
    """Serve POST /v1/readings (a JSON array of readings, with a device's bearer token) and
    GET /healthz until stopped."""
    settings = Settings()
    host = host or settings.ingest_host
    port = settings.ingest_port if port is None else port

    def announce(*_: Any, **__: Any) -> None:
        click.echo(
            f"openlab ingest on http://{host}:{port}/v1/readings -> {settings.topic('readings.raw')}"
            f" (Kafka {settings.bootstrap_servers}; Ctrl-C stops)"
        )

    web.run_app(build_app(settings), host=host, port=port, print=announce, access_log=None)
