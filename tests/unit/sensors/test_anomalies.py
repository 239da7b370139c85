"""Injected anomalies: each one labelled, with the right span, doing what its type says, nothing else.

The check is against the counterfactual: the same seed with ``anomaly_rate=0`` gives the same
readings everywhere, so a reading differs from its counterfactual exactly when a label covers it.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError

from sensors.catalog import KINDS
from sensors.cleaning import Cleaner
from sensors.labels import ACCIDENT_KINDS, AnomalyType, Label
from sensors.reading import Reading
from sensors.simulation.anomalies import magnitude_scale
from sensors.simulation.city import DEFAULT_ANOMALY_RATE, CitySimulator
from sensors.sites import SiteRegistry
from streams.ingest import feed
from streams.settings import Settings

TOWN = SiteRegistry.generate(count=150, seed=11)
START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Wednesday 00:00 KST
HOURS = 10
STEP = timedelta(minutes=5)
END = START + timedelta(hours=HOURS)
RATE = 0.05  # anomalies per sensor-hour: about 150 over the town's ten hours


@dataclass
class Run:
    """One simulated stretch: its events, parsed readings by (sensor, time), labels and when each came."""

    events: list[tuple[bytes, bytes]] = field(default_factory=list)
    readings: dict[tuple[str, datetime], tuple[Reading, bytes]] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    label_ticks: list[tuple[datetime, datetime]] = field(default_factory=list)
    """For each label, the (previous tick, tick) that returned it."""

    by_sensor: dict[str, list[Reading]] = field(default_factory=lambda: defaultdict(list))

    def series(self, sensor_id: str) -> list[Reading]:
        """The sensor's readings in time order."""
        return self.by_sensor[sensor_id]


def simulate(rate: float, seed: int = 7, registry: SiteRegistry = TOWN, parse: bool = True) -> Run:
    simulator = CitySimulator(registry, seed=seed, anomaly_rate=rate)
    run = Run()
    previous = START - STEP
    at = START
    while at <= END:
        events = simulator.tick(at)
        run.events.extend(events)
        for _, value in events if parse else ():
            reading = Reading.model_validate_json(value)
            run.readings[(reading.sensor_id, reading.observed_at)] = (reading, value)
            run.by_sensor[reading.sensor_id].append(reading)
        labels = simulator.take_labels()
        run.labels.extend(labels)
        run.label_ticks.extend((previous, at) for _ in labels)
        previous, at = at, at + STEP
    return run


@pytest.fixture(scope="module")
def anomalous() -> Run:
    return simulate(RATE)


@pytest.fixture(scope="module")
def counterfactual() -> Run:
    return simulate(0.0)


def inside(run: Run, label: Label) -> list[Reading]:
    return [reading for reading in run.series(label.sensor_id) if label.covers(reading.observed_at)]


def pairs(anomalous: Run, counterfactual: Run, label: Label) -> list[tuple[float, float]]:
    """(value, counterfactual value) of the sensor's readings inside the label's span."""
    truth = inside(counterfactual, label)
    assert truth, label  # the span holds at least one report of the sensor
    assert truth[0].observed_at == label.start, label  # and starts on one
    seen = {reading.observed_at: reading.value for reading in inside(anomalous, label)}
    assert set(seen) == {reading.observed_at for reading in truth}, label
    return [(seen[reading.observed_at], reading.value) for reading in truth]


def test_labels_check_their_span_and_their_flag() -> None:
    moment = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    fields = {"sensor_id": "GJ-00001.air_pm25", "site_id": "GJ-00001", "kind": "air_pm25", "start": moment}
    label = Label(**fields, anomaly=AnomalyType.SPIKE, end=moment)
    assert Label.model_validate_json(label.model_dump_json()) == label
    assert not label.real_world
    with pytest.raises(ValidationError, match="before it starts"):
        Label(**fields, anomaly=AnomalyType.DRIFT, end=moment - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="real_world must be True"):
        Label(**fields, anomaly=AnomalyType.ACCIDENT, end=moment)
    with pytest.raises(ValidationError, match="real_world must be False"):
        Label(**fields, anomaly=AnomalyType.DROPOUT, end=moment, real_world=True)
    with pytest.raises(ValidationError):
        Label(**{**fields, "start": datetime(2026, 11, 29, 1, 0)}, anomaly=AnomalyType.SPIKE, end=moment)


def test_every_type_is_injected_and_labelled(anomalous: Run) -> None:
    types = Counter(label.anomaly for label in anomalous.labels)
    assert set(types) == set(AnomalyType), types
    assert 80 < sum(types.values()) < 300, types


def test_outside_the_labelled_spans_the_stream_is_the_counterfactual(
    anomalous: Run, counterfactual: Run
) -> None:
    spans: dict[str, list[Label]] = defaultdict(list)
    for label in anomalous.labels:
        spans[label.sensor_id].append(label)
    assert set(anomalous.readings) <= set(counterfactual.readings)
    changed = 0
    for (sensor_id, moment), (_, truth) in counterfactual.readings.items():
        covered = any(label.covers(moment) for label in spans[sensor_id])
        got = anomalous.readings.get((sensor_id, moment))
        if not covered:
            assert got is not None and got[1] == truth, (sensor_id, moment)
        elif got is None or got[1] != truth:
            changed += 1
    assert changed > 500


def test_labels_come_once_from_the_tick_in_which_they_start(anomalous: Run) -> None:
    assert len({label.model_dump_json() for label in anomalous.labels}) == len(anomalous.labels)
    for label, (previous, tick) in zip(anomalous.labels, anomalous.label_ticks, strict=True):
        assert previous < label.start <= tick, label
    starts = [label.start for label in anomalous.labels]
    assert starts == sorted(starts)


def test_one_reading_is_changed_by_at_most_one_anomaly(anomalous: Run) -> None:
    by_sensor: dict[str, list[Label]] = defaultdict(list)
    for label in anomalous.labels:
        by_sensor[label.sensor_id].append(label)
    for labels in by_sensor.values():
        for first, second in itertools.pairwise(labels):
            assert first.end < second.start


def unclamped(label: Label, values: list[tuple[float, float]]) -> list[float]:
    kind = KINDS[label.kind]
    return [
        value - truth
        for value, truth in values
        if kind.low < min(value, truth) <= max(value, truth) < kind.high
    ]


def labels_of(run: Run, anomaly: AnomalyType) -> list[Label]:
    """The labels of a type whose span ended within the run (the last ones run past its end)."""
    found = [label for label in run.labels if label.anomaly is anomaly and label.end <= END]
    assert found, anomaly
    return found


def test_a_spike_is_one_reading_above_the_truth_and_a_dip_one_below(
    anomalous: Run, counterfactual: Run
) -> None:
    for anomaly, sign in ((AnomalyType.SPIKE, 1), (AnomalyType.DIP, -1)):
        for label in labels_of(anomalous, anomaly):
            assert label.start == label.end
            ((value, truth),) = pairs(anomalous, counterfactual, label)
            kind = KINDS[label.kind]
            assert sign * (value - truth) > 0, label
            # At least twice the kind's typical variation, unless the physical range cuts it short.
            at_bound = value in (kind.low, kind.high)
            assert at_bound or abs(value - truth) >= 2 * magnitude_scale(kind) - 1e-9, label


def test_a_level_shift_offsets_every_reading_by_the_same_amount(anomalous: Run, counterfactual: Run) -> None:
    for label in labels_of(anomalous, AnomalyType.LEVEL_SHIFT):
        values = pairs(anomalous, counterfactual, label)
        assert len(values) >= 3
        diffs = [value - truth for value, truth in values]
        assert all(d >= 0 for d in diffs) or all(d <= 0 for d in diffs), label
        assert any(d != 0 for d in diffs), label
        free = unclamped(label, values)  # a lamp shifted below zero reads zero
        assert not free or max(free) - min(free) < 1e-6 * max(1.0, abs(free[0])), label


def test_a_drift_grows_steadily(anomalous: Run, counterfactual: Run) -> None:
    for label in labels_of(anomalous, AnomalyType.DRIFT):
        values = pairs(anomalous, counterfactual, label)
        assert len(values) >= 4
        diffs = [value - truth for value, truth in values]
        assert all(d >= 0 for d in diffs) or all(d <= 0 for d in diffs), label
        free = [abs(d) for d in unclamped(label, values)]
        assert all(b > a for a, b in itertools.pairwise(free)), label
        assert any(d != 0 for d in diffs), label


def test_a_flatline_repeats_one_value(anomalous: Run, counterfactual: Run) -> None:
    for label in labels_of(anomalous, AnomalyType.FLATLINE):
        values = pairs(anomalous, counterfactual, label)
        assert len(values) >= 3
        assert len({value for value, _ in values}) == 1, label
        assert values[0][0] == values[0][1]  # stuck at its first reading of the span
        assert any(value != truth for value, truth in values), label


def test_a_noise_burst_scatters_the_readings(anomalous: Run, counterfactual: Run) -> None:
    for label in labels_of(anomalous, AnomalyType.NOISE_BURST):
        values = pairs(anomalous, counterfactual, label)
        assert len(values) >= 3
        diffs = [value - truth for value, truth in values]
        assert sum(d != 0 for d in diffs) >= len(diffs) / 3, label
        spread = math.sqrt(statistics.fmean(d * d for d in diffs))
        assert spread > KINDS[label.kind].noise, label


def test_a_dropout_sends_nothing_and_the_sequence_skips(anomalous: Run, counterfactual: Run) -> None:
    for label in labels_of(anomalous, AnomalyType.DROPOUT):
        assert inside(anomalous, label) == []
        truth = inside(counterfactual, label)
        assert len(truth) >= 2
        after = [r for r in anomalous.series(label.sensor_id) if r.observed_at > label.end]
        before = [r for r in anomalous.series(label.sensor_id) if r.observed_at < label.start]
        if after and before:
            first, last = after[0].seq, before[-1].seq
            assert first is not None and last is not None
            assert first - last == len(truth) + 1


def test_an_accident_slows_one_intersection_and_is_a_real_world_event(
    anomalous: Run, counterfactual: Run
) -> None:
    accidents = labels_of(anomalous, AnomalyType.ACCIDENT)
    by_site: dict[tuple[str, datetime], list[Label]] = defaultdict(list)
    for label in accidents:
        assert label.real_world
        by_site[(label.site_id, label.start)].append(label)
    for (site_id, _), labels in by_site.items():
        site = TOWN.site(site_id)
        assert site is not None and site.facility == "road_intersection"
        # Every traffic sensor of the site, one span.
        assert {label.kind for label in labels} == {s.kind for s in site.sensors if s.kind in ACCIDENT_KINDS}
        assert len({(label.start, label.end) for label in labels}) == 1
        for label in labels:
            values = pairs(anomalous, counterfactual, label)
            assert all(value <= truth for value, truth in values), label
            if label.kind != "noise_level":
                assert sum(value < truth for value, truth in values) >= len(values) / 2, label
        speed = next(label for label in labels if label.kind == "traffic_speed")
        first, truth = pairs(anomalous, counterfactual, speed)[0]
        assert first < 0.5 * truth


def test_faults_are_sensor_faults(anomalous: Run) -> None:
    assert all(label.real_world is (label.anomaly is AnomalyType.ACCIDENT) for label in anomalous.labels)


def test_every_event_with_anomalies_passes_the_cleaner(anomalous: Run) -> None:
    cleaner = Cleaner(TOWN)
    now = END
    for _, event in anomalous.events:
        assert isinstance(cleaner.clean(event, now), Reading), event


def test_the_same_seed_gives_the_same_events_and_labels_byte_for_byte(anomalous: Run) -> None:
    again = simulate(RATE, parse=False)
    assert again.events == anomalous.events
    assert [label.model_dump_json() for label in again.labels] == [
        label.model_dump_json() for label in anomalous.labels
    ]


def test_a_different_seed_gives_different_anomalies(anomalous: Run) -> None:
    other = simulate(RATE, seed=8, parse=False)
    assert other.events != anomalous.events
    assert {(label.sensor_id, label.start) for label in other.labels}.isdisjoint(
        (label.sensor_id, label.start) for label in anomalous.labels
    )


def test_rate_zero_injects_nothing(counterfactual: Run) -> None:
    assert counterfactual.labels == []


def test_the_default_rate_gives_every_type_enough_episodes_in_openlab_run() -> None:
    city = SiteRegistry.generate()
    simulator = CitySimulator(city)
    sensors = sum(1 for _ in city.sensors())
    hours = 150 * sensors / simulator.readings_per_second / 3600  # openlab run's default feed
    labels: list[Label] = []
    for minutes in range(10, math.ceil(hours * 60) + 1, 10):
        simulator.tick(START + timedelta(minutes=minutes))
        labels += simulator.take_labels()
    anomalies = len({(label.site_id, label.start, label.anomaly) for label in labels})
    expected = DEFAULT_ANOMALY_RATE * sensors * hours
    assert expected / 2 < anomalies < expected * 2
    # After each sensor's warm-up of 60 readings, every type has enough episodes to judge.
    judged = Counter(
        label.anomaly
        for label in labels
        if label.start >= START + timedelta(seconds=60 * KINDS[label.kind].interval_seconds)
    )
    assert min(judged[anomaly] for anomaly in AnomalyType) >= 20, judged


class RecordingPublisher:
    """Stands in for the Kafka publisher: keeps what it is given, by topic."""

    sent: ClassVar[dict[str, list[tuple[bytes | None, bytes]]]] = defaultdict(list)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> int:
        self.sent[topic].extend(records)
        return len(records)

    async def stop(self) -> None:
        pass


async def test_the_feed_sends_readings_and_labels_on_an_accelerated_clock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(feed, "Publisher", RecordingPublisher)
    RecordingPublisher.sent.clear()
    settings = Settings(topic_prefix="t.")
    simulator = CitySimulator(TOWN, seed=3, anomaly_rate=5.0)
    began = datetime.now(UTC)
    stats = await feed.feed_city(
        settings,
        simulator,
        duration=1.5,
        speed=600,
        malformed_rate=0.01,
        labels_path=tmp_path / "labels.jsonl",
    )
    ended = datetime.now(UTC)
    readings = RecordingPublisher.sent["t.readings.raw"]
    labels = RecordingPublisher.sent["t.labels"]
    assert set(RecordingPublisher.sent) == {"t.readings.raw", "t.labels"}
    assert stats.produced == len(readings)
    # 1.5 wall seconds at 600 times real time: 15 event minutes of the town, and its first tick.
    expected = simulator.readings_per_second * 900 + sum(len(site.sensors) for site in TOWN.sites)
    assert expected * 0.9 < len(readings) < expected * 1.02
    assert 0 < stats.malformed < len(readings) * 0.03
    assert stats.event_start is not None and stats.event_end is not None
    assert (
        began - timedelta(seconds=900) - timedelta(seconds=2)
        < stats.event_start
        < began - timedelta(minutes=14)
    )
    cleaner = Cleaner(TOWN)
    good = [cleaner.clean(value, ended) for _, value in readings]
    stamps = [reading.observed_at for reading in good if isinstance(reading, Reading)]
    assert len(stamps) == len(readings) - stats.malformed
    assert max(stamps) <= ended  # never ahead of the wall clock
    assert min(stamps) >= stats.event_start - timedelta(minutes=15)
    # Labels: on their topic keyed by sensor, counted by type, and in the file, the same bytes.
    assert stats.labelled == len(labels) > 50
    assert stats.labels == Counter(Label.model_validate_json(value).anomaly.value for _, value in labels)
    assert all(key == Label.model_validate_json(value).sensor_id.encode() for key, value in labels)
    lines = (tmp_path / "labels.jsonl").read_bytes().splitlines()
    assert lines == [value for _, value in labels]
