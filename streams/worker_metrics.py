"""A worker's metrics as read back from its ``/metrics`` page (Prometheus's text format), and the
quantiles of its latency histogram: for ``openlab run``'s summary and the benchmarks."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One worker's metrics at one moment."""

    readings: float
    cpu_seconds: float
    rss_bytes: float
    step_seconds: dict[str, float]
    latency_buckets: dict[float, float]
    """Readings written within each upper bound (seconds; the last is infinity), cumulative."""


def parse(text: str) -> Scrape:
    """A worker's metrics from its Prometheus text (a histogram not yet shown counts as empty).

    >>> scrape = parse(
    ...     "process_cpu_seconds_total 2.5\\nprocess_resident_memory_bytes 1e8\\n"
    ...     'openlab_step_cpu_seconds_total{step="clean"} 0.5\\n'
    ...     'openlab_reading_latency_seconds_bucket{le="0.1"} 3.0\\n'
    ...     'openlab_reading_latency_seconds_bucket{le="+Inf"} 4.0\\n'
    ... )
    >>> scrape.readings, scrape.cpu_seconds, scrape.step_seconds, scrape.latency_buckets
    (0.0, 2.5, {'clean': 0.5}, {0.1: 3.0, inf: 4.0})
    """
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    plain = {sample.name: sample.value for sample in samples if not sample.labels}
    return Scrape(
        readings=plain.get("openlab_pass_readings_total", 0.0),
        cpu_seconds=plain["process_cpu_seconds_total"],
        rss_bytes=plain["process_resident_memory_bytes"],
        step_seconds={
            s.labels["step"]: s.value for s in samples if s.name == "openlab_step_cpu_seconds_total"
        },
        latency_buckets={
            float(s.labels["le"]): s.value
            for s in samples
            if s.name == "openlab_reading_latency_seconds_bucket"
        },
    )


async def scrape(port: int) -> Scrape:
    """The metrics of the worker serving them on ``port``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response,
    ):
        response.raise_for_status()
        return parse(await response.text())


def quantile(q: float, buckets: dict[float, float]) -> float:
    """The ``q`` quantile of a cumulative histogram, interpolated linearly inside its bucket (as
    Prometheus's ``histogram_quantile``: one in the last, unbounded bucket is the highest bound).

    >>> buckets = {0.1: 10.0, 0.2: 60.0, 0.5: 100.0, math.inf: 100.0}
    >>> round(quantile(0.5, buckets), 4), round(quantile(0.99, buckets), 4)
    (0.18, 0.4925)
    >>> quantile(0.99, {0.1: 10.0, 0.2: 10.0, math.inf: 20.0})
    0.2
    """
    bounds, counts = list(buckets), list(buckets.values())
    rank = q * counts[-1]
    index = bisect.bisect_left(counts, rank)
    if math.isinf(bounds[index]):
        return bounds[index - 1]
    lower, below = (bounds[index - 1], counts[index - 1]) if index else (0.0, 0.0)
    return lower + (bounds[index] - lower) * (rank - below) / (counts[index] - below)


def latency_quantiles(scrapes: Sequence[Scrape], qs: Sequence[float] = (0.5, 0.99)) -> list[float] | None:
    """The ``qs`` quantiles (seconds) of the workers' latency histograms taken together, or
    ``None`` if they have counted no reading.

    >>> worker = parse('openlab_reading_latency_seconds_bucket{le="0.1"} 10.0\\n'
    ...                'openlab_reading_latency_seconds_bucket{le="+Inf"} 10.0\\n'
    ...                "process_cpu_seconds_total 1\\nprocess_resident_memory_bytes 1\\n")
    >>> latency_quantiles([worker, worker], qs=(0.5,))
    [0.05]
    """
    buckets: defaultdict[float, float] = defaultdict(float)
    for one in scrapes:
        for bound, count in one.latency_buckets.items():
            buckets[bound] += count
    combined = dict(sorted(buckets.items()))
    if not combined or not max(combined.values()):
        return None
    return [quantile(q, combined) for q in qs]
