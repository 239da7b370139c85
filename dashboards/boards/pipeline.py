"""The pipeline-health dashboard (``openlab-pipeline``): throughput per stage, the workers, their
partitions and consumer lag, and the InfluxDB sink's write time and retries."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common

from dashboards.influxql import InfluxQL, label, latest, matches, name, select
from dashboards.parts import PIPELINE_UID, board, events_per_second, panel, reduced
from dashboards.variables import tag_variable
from sensors import measurements

METRICS_INTERVAL = "30s"
"""The shortest interval the worker panels group by: a few of the workers' metrics intervals
(``OPENLAB_METRICS_SECONDS``, 10 s by default), so each interval holds a point of every worker."""

_WORKERS = matches("worker", "worker")

DRIFTED_LISTED = 200
"""How many of the latest checkpoints of detectors whose inputs drifted the table lists."""


def throughput(title: str, description: str, alias: str, by: tuple[str, ...]) -> timeseries.Panel:
    """The chosen workers' pipeline events per second, one series per value of the ``by`` tags."""
    query = events_per_second(_WORKERS, by=by, alias=alias)
    return panel(timeseries.Panel(), title, description, query, width=12, height=8).unit("short").min(0)


def per_worker(
    title: str, description: str, columns: str, measurement: str, *, width: int, fill: str = "none"
) -> timeseries.Panel:
    """``columns`` of ``measurement`` per interval, one series per worker."""
    query = select(columns, measurement, _WORKERS, every=True, by=("worker",), fill=fill)
    return (
        panel(
            timeseries.Panel(),
            title,
            description,
            InfluxQL(query).alias("$tag_worker"),
            width=width,
            height=8,
        )
        .interval(METRICS_INTERVAL)
        .min(0)
    )


def stacked(built: timeseries.Panel) -> timeseries.Panel:
    """``built`` with its series stacked, so the top line is the sum over the workers."""
    return built.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(30)


def workers() -> stat.Panel:
    reporting = select(
        f"last({name('partitions')}) AS {name('partitions')}",
        measurements.WORKER,
        _WORKERS,
        every=True,
        by=("worker",),
    )
    query = select(f"count({name('partitions')}) AS {label('workers')}", f"({reporting})", every=True)
    return (
        panel(
            stat.Panel(),
            "Workers",
            "How many workers reported in the latest interval (each writes a point every metrics interval "
            "while it runs); the sparkline shows it over time. Fewer than expected means a worker died or "
            "cannot reach InfluxDB.",
            InfluxQL(query),
            width=4,
            height=8,
        )
        .interval(METRICS_INTERVAL)
        .reduce_options(reduced("lastNotNull"))
        .graph_mode(common.BigValueGraphMode.AREA)
        .decimals(0)
    )


def drifted_detectors() -> table.Panel:
    columns = (
        "sensor_id",
        "detector",
        "drifts",
        "drift_mean",
        "drift_window",
        "readings_learnt",
        "warming_up",
        "probability_p99",
        "threshold",
    )
    query = latest(columns, measurements.MODEL, f"{name('drifts')} > 0", limit=DRIFTED_LISTED)
    return panel(
        table.Panel(),
        "Detectors whose inputs drifted",
        f"The latest {DRIFTED_LISTED} checkpoints of detectors whose inputs drifted: how many times River's "
        "ADWIN found the mean of a sensor's values had moved, the mean and length of its window since, "
        "the readings the detector learnt and the 99th percentile of its latest probabilities. A sensor "
        "that drifts again and again was re-calibrated, moved or is failing; `openlab models show "
        "SENSOR_ID` tells the rest.",
        InfluxQL(query).table(),
        width=24,
        height=8,
    )


def dashboard() -> board_builder.Dashboard:
    """The pipeline-health dashboard."""
    return board(
        PIPELINE_UID,
        "openlab: pipeline health",
        "Whether the pipeline keeps up: events per second through each stage, the workers and their consumer "
        "lag, how the InfluxDB sink writes, and the detectors whose inputs drifted.",
        [
            (
                "Throughput",
                [
                    throughput(
                        "Throughput by stage",
                        "Events per second through each stage (clean, score, sink, health, alarm, "
                        "operator), whatever became of them. Stages downstream of clean should follow it; "
                        "one that falls behind is the bottleneck.",
                        "$tag_stage",
                        ("stage",),
                    ),
                    throughput(
                        "Outcomes by stage",
                        "Events per second by stage and outcome (accepted, rejected, written, anomalous, "
                        "normal, opened, cleared, ...): what each stage does with what it takes.",
                        "$tag_stage $tag_outcome",
                        ("stage", "outcome"),
                    ),
                ],
            ),
            (
                "Workers",
                [
                    workers(),
                    stacked(
                        per_worker(
                            "Partitions owned",
                            "The readings.raw partitions each worker owns, stacked: the top line should be "
                            "the topic's partition count (12 by default). A change is a rebalance.",
                            f"last({name('partitions')}) AS {name('partitions')}",
                            measurements.WORKER,
                            width=10,
                        )
                    ),
                    stacked(
                        per_worker(
                            "Consumer lag",
                            "Events in readings.raw the workers have not read yet, stacked per worker: the "
                            "top line is the pipeline's backlog. Lag that keeps growing means the workers "
                            "cannot keep up: add workers (up to one per partition).",
                            f"max({name('lag')}) AS {name('lag')}",
                            measurements.WORKER,
                            width=10,
                        )
                    ),
                ],
            ),
            (
                "InfluxDB sink",
                [
                    per_worker(
                        "Sink write time per batch",
                        "Seconds each worker's InfluxDB writes took per batch, on average in each interval. "
                        "A rise means InfluxDB is slowing down; the pipeline slows with it.",
                        f"sum({name('write_seconds')}) / sum({name('batches')}) "
                        f"AS {label('seconds per batch')}",
                        measurements.SINK,
                        width=12,
                    ).unit("s"),
                    per_worker(
                        "Sink retries",
                        "Writes to InfluxDB each worker had to retry in each interval (an outage, a timeout, "
                        "a 5xx). The pipeline holds its batch and retries, so nothing is lost, but it stops "
                        "moving meanwhile.",
                        f"sum({name('retries')}) AS {name('retries')}",
                        measurements.SINK,
                        width=12,
                        fill="0",
                    ).draw_style(common.GraphDrawStyle.BARS),
                ],
            ),
            ("Detectors", [drifted_detectors()]),
        ],
        variables=[
            tag_variable("worker", "Worker", measurements.WORKER, "worker", multi=True),
        ],
    )
