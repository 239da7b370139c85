"""``openlab models show SENSOR_ID``: one sensor's detector as its latest checkpoint on Kafka holds it."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.detectors.checkpoint import checkpoint_label, load_detector
from models.detectors.inspection import summarise, summary_rows
from streams.pipeline.checkpoints import checkpoint_of
from streams.settings import Settings


@click.group("models")
def models_group() -> None:
    """Each sensor's detector, from the checkpoints the workers write."""


@models_group.command("show")
@click.argument("sensor_id")
def show(sensor_id: str) -> None:
    """SENSOR_ID's detector: name and version, readings learnt, warm-up, the distribution of its latest
    probabilities, threshold, expected range and the drift of its inputs."""
    settings = Settings()
    data = asyncio.run(checkpoint_of(settings, sensor_id))
    if data is None:
        raise click.ClickException(f"no checkpoint of sensor {sensor_id}: no worker has checkpointed it yet")
    detector = load_detector(data)
    if detector is None:
        raise click.ClickException(
            f"the checkpoint of sensor {sensor_id} ({checkpoint_label(data) or 'of an unknown format'})"
            " cannot be read by this version"
        )
    table = Table("", "", title=f"sensor {escape(sensor_id)}", show_header=False)
    for what, value in summary_rows(summarise(detector)):
        table.add_row(what, escape(value))
    Console(soft_wrap=True).print(table)
