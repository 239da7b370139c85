"""What a worker's stages did: counters by stage, outcome and reason, for Prometheus and InfluxDB.

The same counts are exposed two ways: as Prometheus metrics on the worker's web server
(``/metrics``, running totals since the worker started) and as InfluxDB points written every
``OPENLAB_METRICS_SECONDS`` (the counts of that interval, so dashboards sum them).

>>> counters = PipelineCounters(worker="w1")
>>> counters.count("clean", "rejected", "schema", 3)
>>> counters.count("clean", "accepted", n=7)
>>> b'openlab_events_total{outcome="rejected",reason="schema",stage="clean"} 3.0' in counters.exposition()
True
>>> counters.interval_lines(at_nanos=0)
['pipeline,worker=w1,stage=clean,outcome=rejected,reason=schema events=3i 0', \
'pipeline,worker=w1,stage=clean,outcome=accepted,reason=none events=7i 0']
>>> counters.interval_lines(at_nanos=1)
[]
"""

from __future__ import annotations

import bisect
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from sensors import measurements


@dataclass
class SinkStats:
    """What a worker's InfluxDB writer has done since it started."""

    batches: int = 0
    points: int = 0
    retries: int = 0
    write_seconds: float = 0.0


LATENCY_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the buckets of a reading's latency, from produced to written."""


class StepTimer:
    """CPU time of the steps of one batch, lap by lap, added to ``seconds`` by step name."""

    def __init__(self, seconds: defaultdict[str, float]) -> None:
        self.seconds = seconds
        self._last = time.process_time()

    def lap(self, step: str) -> None:
        now = time.process_time()
        self.seconds[step] += now - self._last
        self._last = now


def worker_name() -> str:
    """This worker process's name in metrics: host and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class PipelineCounters(Collector):
    """Running counts of one worker; a Prometheus collector and a source of InfluxDB points."""

    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker or worker_name()
        self.events: Counter[tuple[str, str, str]] = Counter()
        self.health: Counter[tuple[str, str]] = Counter()
        self.sink = SinkStats()
        self.active_partitions = 0
        self.lag = 0
        self.readings = 0
        """Readings the pass took (valid or not)."""
        self.step_seconds: defaultdict[str, float] = defaultdict(float)
        """CPU seconds the pass spent in each step."""
        self.latency_buckets = [0] * (len(LATENCY_BOUNDS) + 1)
        self.latency_sum = 0.0
        self.restores = 0
        """Partitions' state restores (after a rebalance, a failed batch or transaction)."""
        self.restore_seconds = 0.0
        self.last_restore_seconds = 0.0
        self._reported_events: Counter[tuple[str, str, str]] = Counter()
        self._reported_sink = SinkStats()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)
        ProcessCollector(registry=self._registry)

    def step_timer(self) -> StepTimer:
        return StepTimer(self.step_seconds)

    def observe_latency(self, now: float, produced_ms: Sequence[int]) -> None:
        """Count the latency of readings produced at ``produced_ms`` (Kafka timestamps) and
        written by ``now`` (seconds since the epoch).

        >>> counters = PipelineCounters(worker="w1")
        >>> counters.observe_latency(100.0, [99_950, 99_700, 90_000])
        >>> {bound: n for bound, n in zip(LATENCY_BOUNDS, counters.latency_buckets, strict=False) if n}
        {0.05: 1, 0.3: 1, 10.0: 1}
        """
        for produced in produced_ms:
            seconds = now - produced / 1000
            self.latency_buckets[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
            self.latency_sum += seconds

    def observe_restore(self, seconds: float) -> None:
        """Count a restore of partitions' state that took ``seconds``.

        >>> counters = PipelineCounters(worker="w1")
        >>> counters.observe_restore(1.5); counters.observe_restore(0.5)
        >>> counters.restores, counters.restore_seconds, counters.last_restore_seconds
        (2, 2.0, 0.5)
        """
        self.restores += 1
        self.restore_seconds += seconds
        self.last_restore_seconds = seconds

    def count(self, stage: str, outcome: str, reason: str = "", n: int = 1) -> None:
        """``n`` events of ``stage`` ended as ``outcome`` (for a rejection: with ``reason``)."""
        if n:
            self.events[(stage, outcome, reason)] += n

    def count_health(self, problem: str, status: str) -> None:
        self.health[(problem, status)] += 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        events = CounterMetricFamily(
            "openlab_events",
            "Events each stage took, by what became of them (rejections by reason).",
            labels=("stage", "outcome", "reason"),
        )
        for (stage, outcome, reason), n in self.events.items():
            events.add_metric((stage, outcome, reason), n)
        yield events
        health = CounterMetricFamily(
            "openlab_sensor_health_events",
            "Sensor health episodes opened and closed (stale, flatline, gap).",
            labels=("problem", "status"),
        )
        for (problem, status), n in self.health.items():
            health.add_metric((problem, status), n)
        yield health
        for name, value, text in (
            ("batches", self.sink.batches, "Batches written to InfluxDB."),
            ("points", self.sink.points, "Points written to InfluxDB."),
            ("retries", self.sink.retries, "InfluxDB writes retried (outages)."),
            ("write_seconds", self.sink.write_seconds, "Time spent in successful InfluxDB writes."),
        ):
            yield CounterMetricFamily(f"openlab_sink_{name}", text, value=value)
        steps = CounterMetricFamily(
            "openlab_step_cpu_seconds", "CPU seconds the pass spent in each step.", labels=("step",)
        )
        for step, seconds in self.step_seconds.items():
            steps.add_metric((step,), seconds)
        yield steps
        yield CounterMetricFamily("openlab_pass_readings", "Readings the pass took.", value=self.readings)
        cumulative, buckets = 0, []
        for bound, n in zip((*LATENCY_BOUNDS, float("inf")), self.latency_buckets, strict=True):
            cumulative += n
            buckets.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
        yield HistogramMetricFamily(
            "openlab_reading_latency_seconds",
            "From a reading's production into Kafka to its point written to InfluxDB.",
            buckets=buckets,
            sum_value=self.latency_sum,
        )
        yield CounterMetricFamily("openlab_restores", "Restores of partitions' state.", value=self.restores)
        yield CounterMetricFamily(
            "openlab_restore_seconds", "Time spent restoring partitions' state.", value=self.restore_seconds
        )
        yield GaugeMetricFamily(
            "openlab_last_restore_seconds", "How long the latest restore took.", self.last_restore_seconds
        )
        yield GaugeMetricFamily(
            "openlab_active_partitions",
            "Partitions of readings.raw this worker owns.",
            self.active_partitions,
        )
        yield GaugeMetricFamily(
            "openlab_consumer_lag",
            "Events in this worker's partitions of readings.raw that it has not committed yet.",
            self.lag,
        )

    def exposition(self) -> bytes:
        """The Prometheus text format of every counter."""
        return generate_latest(self._registry)

    def interval_lines(self, at_nanos: int) -> list[str]:
        """Line protocol for what was counted since the last call (nothing if nothing was)."""
        lines = []
        for key, total in self.events.items():
            delta = total - self._reported_events[key]
            if delta:
                stage, outcome, reason = key
                lines.append(
                    f"{measurements.PIPELINE},worker={self.worker},stage={stage},outcome={outcome},"
                    f"reason={reason or measurements.NO_REASON} events={delta}i {at_nanos}"
                )
        self._reported_events = Counter(self.events)
        sink, before = self.sink, self._reported_sink
        if sink != before:
            lines.append(
                f"{measurements.SINK},worker={self.worker} batches={sink.batches - before.batches}i,"
                f"points={sink.points - before.points}i,retries={sink.retries - before.retries}i,"
                f"write_seconds={sink.write_seconds - before.write_seconds!r} {at_nanos}"
            )
            self._reported_sink = SinkStats(**vars(sink))
        return lines

    def standing_line(self, at_nanos: int) -> str:
        """Line protocol for the worker's partitions and lag now (written every interval, so a
        dashboard can count the workers alive).

        >>> counters = PipelineCounters(worker="w1")
        >>> counters.active_partitions, counters.lag = 3, 120
        >>> counters.standing_line(0)
        'worker,worker=w1 partitions=3i,lag=120i 0'
        """
        return (
            f"{measurements.WORKER},worker={self.worker} partitions={self.active_partitions}i,"
            f"lag={self.lag}i {at_nanos}"
        )


def consumer_lag(ends: Mapping[Any, int | None], committed: Mapping[Any, int | None]) -> int:
    """Events not committed yet: over the partitions, end offset minus committed offset (a
    partition with no commit yet counts from 0; one whose end is not known yet is left out).

    >>> consumer_lag({"p0": 100, "p1": 50, "p2": None}, {"p0": 90})
    60
    """
    return sum(max(0, end - (committed.get(tp) or 0)) for tp, end in ends.items() if end is not None)
