"""River's own anomaly detectors in a worker on the real stack with ``OPENLAB_DETECTOR``, whose checkpoints
``openlab models show`` reads and InfluxDB summarises."""

from __future__ import annotations

import asyncio
from typing import Any

from click.testing import CliRunner, Result

from models.detectors.checkpoint import load_detector
from models.scoring import ScoredReading
from sensors import measurements
from streams.city import load_city
from streams.cli.root import main
from streams.kafka.topics import read_values
from streams.pipeline.checkpoints import checkpoint_of
from streams.settings import Settings
from streams.sinks.influx import influxql
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for
from tests.integration.pipeline.test_checkpoints import encoded, readings


async def test_a_worker_scores_every_sensor_with_the_river_detector_named_and_models_show_reads_it(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings.model_copy(
        update={"detector": "river.HalfSpaceTrees", "checkpoint_seconds": 1.0}
    )
    city = load_city(settings)
    sensors = [(s.sensor_id, site.site_id) for site, s in city.sensors() if s.kind == "air_pm25"][:2]
    sent = readings(sensors, range(300))
    worker(settings)
    await produce(settings, encoded(sent))

    async def scored_all() -> bool:
        return len(await read_scored(settings)) >= len(sent)

    await wait_for("every reading scored", scored_all)
    assert {scored.detector for scored in await read_scored(settings)} == {"river.HalfSpaceTrees@1"}

    sensor_id = sensors[0][0]

    async def checkpointed() -> bool:
        data = await checkpoint_of(settings, sensor_id)
        detector = None if data is None else load_detector(data)
        return detector is not None and detector.n_seen == 300

    await wait_for("the checkpoint of the sensor's detector after 300 readings", checkpointed)
    shown = await show_model(settings, sensor_id)
    assert shown.exit_code == 0, shown.output
    for text in (
        f"sensor {sensor_id}",
        "river.HalfSpaceTrees@1",
        "readings learnt            │ 300",
        "warm (250/250)",
        "probabilities (latest 120) │ p50 ",
        "threshold                  │ 0.999 ",
        "expected range             │ 20 .. 31",
        "over the latest",
        "input drifts",
    ):
        assert text in shown.output, shown.output

    async def model_points() -> bool:
        return bool(await model_series(settings, sensor_id))

    await wait_for("the model point of the sensor in InfluxDB", model_points)
    [series] = await model_series(settings, sensor_id)
    row = dict(zip(series["columns"], series["values"][-1], strict=True))
    assert set(measurements.MODEL_FIELDS) <= set(row)
    assert row["readings_learnt"] == 300 and row["warming_up"] is False and row["drift_window"] > 0
    assert row["detector"] == "river.HalfSpaceTrees@1"

    missing = await show_model(settings, "NO-SUCH.sensor")
    assert missing.exit_code == 1 and "no checkpoint of sensor NO-SUCH.sensor" in missing.output


async def show_model(settings: Settings, sensor_id: str) -> Result:
    """``openlab models show SENSOR_ID`` with ``settings`` (in a thread: it runs an event loop of its own)."""
    environment = {**settings.as_environment(), "COLUMNS": "200"}
    return await asyncio.to_thread(CliRunner().invoke, main, ["models", "show", sensor_id], env=environment)


async def read_scored(settings: Settings) -> list[ScoredReading]:
    return [
        ScoredReading.model_validate_json(value)
        for value in await read_values(settings, settings.topic("readings.scored"))
    ]


async def model_series(settings: Settings, sensor_id: str) -> list[dict[str, Any]]:
    query = f"SELECT * FROM \"{measurements.MODEL}\" WHERE sensor_id = '{sensor_id}'"
    return await influxql(settings, query)
