"""The score step: each clean reading judged by its sensor's detector (score first, then learn),
with the explanation of the verdict. Its outputs: ``readings.scored`` and the ``reading`` points."""

from __future__ import annotations

from collections.abc import Sequence

from models.scoring import ScoredReading, score_reading
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.metrics import PipelineCounters
from streams.pipeline.checkpoints import DetectorCheckpoints
from streams.runtime.batch import Event, Outputs, Points
from streams.sinks.influx import ReadingLines
from streams.sinks.points import SINK_STAGE


class ScoreStep:
    """Scores the clean readings of a batch; returns them scored, each with its event and JSON."""

    def __init__(
        self,
        detectors: DetectorCheckpoints,
        registry: SiteRegistry,
        counters: PipelineCounters,
        scored_topic: str,
    ) -> None:
        self.detectors = detectors
        self.lines = ReadingLines(registry)
        self.counters = counters
        self.scored_topic = scored_topic

    def __call__(
        self, readings: Sequence[tuple[Event, Reading]], out: Outputs
    ) -> list[tuple[Event, ScoredReading, bytes]]:
        scored: list[tuple[Event, ScoredReading, bytes]] = []
        records = out.records[self.scored_topic]
        anomalous = 0
        for event, reading in readings:
            result = score_reading(self.detectors.detector(reading, event.partition), reading)
            anomalous += result.anomalous
            value = result.model_dump_json().encode()
            records.append((event.key, value))
            out.points.append(Points(event, SINK_STAGE, value, [self.lines(result)]))
            scored.append((event, result, value))
        self.counters.count("score", "anomalous", n=anomalous)
        self.counters.count("score", "normal", n=len(scored) - anomalous)
        return scored
