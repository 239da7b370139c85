"""CPU per reading of each step of the pass, in microseconds, on the simulated city's events.

The steps run exactly as in a worker (:meth:`streams.pipeline.one_pass.OnePass.steps`, in batches
of ``OPENLAB_BATCH_SIZE``, with a worker's garbage collector settings), without Kafka or
InfluxDB: what is left of a reading's cost once the services are out of the way. The first
ticks only warm the sensors' states and detectors up; the ticks after them are timed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import DefaultPartitioner

from sensors.reading import Reading
from sensors.simulation.city import CitySimulator
from sensors.sites import SiteRegistry
from streams.metrics import PipelineCounters
from streams.pipeline.one_pass import OnePass
from streams.runtime.batch import Fetched, Outputs
from streams.settings import Settings
from streams.worker import tune_garbage_collector


class _City:
    """The simulated city's readings, minute by minute, as the pass would fetch them."""

    def __init__(self, settings: Settings, registry: SiteRegistry, topic: str, minutes: int) -> None:
        self.simulator = CitySimulator(registry, seed=settings.seed)
        self.partitions = list(range(settings.partitions))
        self.partitioner = DefaultPartitioner()
        self.topic = topic
        self.size = settings.batch_size
        self.next_minute = datetime.now(UTC) - timedelta(minutes=minutes)
        self.offset = 0

    def batches(self, minutes: int) -> list[list[Fetched]]:
        events = []
        for _ in range(minutes):
            for key, value in self.simulator.tick(self.next_minute):
                partition = self.partitioner(key, self.partitions, self.partitions)
                events.append(Fetched(self.topic, partition, self.offset, key, value))
                self.offset += 1
            self.next_minute += timedelta(minutes=1)
        return [events[start : start + self.size] for start in range(0, len(events), self.size)]


def stage_costs(settings: Settings, registry: SiteRegistry, warm: int, timed: int) -> dict[str, float]:
    """Microseconds per reading of each step over ``timed`` whole-city minutes, after ``warm``."""
    counters = PipelineCounters(worker="bench")
    one_pass = OnePass(settings, registry, counters)
    tune_garbage_collector()  # as a worker does
    city = _City(settings, registry, one_pass.names.raw, warm + timed)
    for batch in city.batches(warm):
        one_pass.steps(batch, Outputs())
    counters.step_seconds.clear()
    batches = city.batches(timed)
    for batch in batches:
        one_pass.steps(batch, Outputs())
    readings = sum(len(batch) for batch in batches)
    costs = {step: seconds / readings * 1e6 for step, seconds in counters.step_seconds.items()}
    costs["all steps"] = sum(costs.values())
    begun = time.process_time()
    for batch in batches:
        for event in batch:
            Reading.model_validate_json(event.value or b"")
    costs["of which pydantic validation alone"] = (time.process_time() - begun) / readings * 1e6
    return costs
