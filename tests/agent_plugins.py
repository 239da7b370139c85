"""Agents of the tests, named to a worker as ``tests.agent_plugins:NAME``."""

from __future__ import annotations

from streams.agents import Batch, NoState, agent


@agent("broken", state=NoState)
def broken(batch: Batch[NoState]) -> None:
    """Fails on every batch."""
    raise RuntimeError(f"broken cannot take {len(batch.readings)} readings")


@agent("stray", state=NoState, outputs=("noise",))
def stray(batch: Batch[NoState]) -> None:
    """Emits to an output it does not have, and keeps state under a key no event bore."""
    for item in batch.readings:
        batch.state.put("somewhere-else", NoState())
        batch.emit("noise", item.reading.sensor_id, {"value": item.reading.value})
