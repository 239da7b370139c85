"""The simulated city: deterministic, always valid, believable rhythms, cadence, every malformation caught."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sensors.catalog import KINDS
from sensors.cleaning import Cleaner, Reason, Rejection
from sensors.reading import Reading
from sensors.simulation.city import CitySimulator
from sensors.simulation.malformations import Malformation, corrupt
from sensors.simulation.sky import Weather, solar_elevation
from sensors.site import District
from sensors.sites import SiteRegistry
from streams.ingest.feed import plan_feed

KST = timezone(timedelta(hours=9))
AT = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
SMALL = SiteRegistry.generate(count=60, seed=5)
WEDNESDAY = datetime(2026, 11, 25, tzinfo=KST)  # local midnight
SATURDAY = datetime(2026, 11, 28, tzinfo=KST)


@pytest.fixture(scope="module")
def city() -> SiteRegistry:
    return SiteRegistry.generate()


def values_by_sensor(events: list[tuple[bytes, bytes]]) -> dict[str, Reading]:
    readings = [Reading.model_validate_json(value) for _, value in events]
    return {reading.sensor_id: reading for reading in readings}


def snapshot(city: SiteRegistry, at: datetime, seed: int = 0) -> list[Reading]:
    """One reading per sensor: each sensor's last report up to ``at``, without anomalies."""
    events = CitySimulator(city, seed=seed, anomaly_rate=0.0).tick(at)
    return [Reading.model_validate_json(value) for _, value in events]


def of_kind(readings: list[Reading], kind: str) -> list[float]:
    values = [reading.value for reading in readings if reading.kind == kind]
    assert len(values) >= 10, kind
    return values


def mean_of(city: SiteRegistry, kind: str, at: datetime) -> float:
    return statistics.fmean(of_kind(snapshot(city, at), kind))


# --- malformations ----------------------------------------------------------------------------


def test_the_expected_reason_mapping_covers_every_malformation() -> None:
    assert all(isinstance(how.reason, Reason) for how in Malformation)


@pytest.mark.parametrize("how", list(Malformation))
def test_every_malformation_is_rejected_with_its_reason(how: Malformation) -> None:
    cleaner = Cleaner(SMALL)
    events = CitySimulator(SMALL, seed=5).tick(AT)
    kinds_seen = set()
    for _, event in events:
        assert isinstance(cleaner.clean(event, AT), Reading)
        broken = corrupt(event, how, AT)
        assert broken != event
        result = cleaner.clean(broken, AT)
        assert isinstance(result, Rejection), (how, broken)
        assert result.reason is how.reason, (how, broken, result)
        assert result.detail.strip()
        kinds_seen.add(json.loads(event)["kind"])
    assert len(kinds_seen) >= 5


# --- determinism ------------------------------------------------------------------------------


def test_the_simulator_is_deterministic_for_a_seed() -> None:
    first, second = CitySimulator(SMALL, seed=42), CitySimulator(SMALL, seed=42)
    for minutes in range(0, 120, 15):
        at = AT + timedelta(minutes=minutes)
        assert first.tick(at) == second.tick(at)


def test_a_different_seed_gives_different_values_for_the_same_sensors() -> None:
    one = CitySimulator(SMALL, seed=1).tick(AT)
    two = CitySimulator(SMALL, seed=2).tick(AT)
    assert sorted(key for key, _ in one) == sorted(key for key, _ in two)
    values_one = values_by_sensor(one)
    values_two = values_by_sensor(two)
    pairs = [(values_one[sensor].value, values_two[sensor].value) for sensor in values_one]
    # A solar plant at night or a street light by day reports a true zero whatever the seed.
    live = [(a, b) for a, b in pairs if a or b]
    assert len(live) > len(pairs) * 0.5
    assert sum(a != b for a, b in live) > len(live) * 0.9


def test_an_event_time_given_in_another_offset_keeps_its_instant() -> None:
    at = datetime(2026, 11, 29, 10, 0, tzinfo=KST)
    local = CitySimulator(SMALL, seed=5).tick(at)
    utc = CitySimulator(SMALL, seed=5).tick(at.astimezone(UTC))
    assert local == utc
    assert all(reading.observed_at <= at for reading in values_by_sensor(local).values())


def test_a_naive_event_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        CitySimulator(SMALL).tick(datetime(2026, 11, 29, 10, 0))


# --- cadence ----------------------------------------------------------------------------------


def test_the_first_tick_gives_one_reading_per_sensor_from_its_last_interval() -> None:
    # Each sensor reports at its own phase: the first tick gives its last report up to AT.
    events = CitySimulator(SMALL, seed=5).tick(AT)
    keys = [key.decode() for key, _ in events]
    assert Counter(keys) == Counter(sensor.sensor_id for _, sensor in SMALL.sensors())
    for key, value in events:
        reading = Reading.model_validate_json(value)
        known = SMALL.sensor(reading.sensor_id)
        assert known is not None
        site, sensor = known
        assert reading.sensor_id == key.decode()
        assert (reading.site_id, reading.kind, reading.unit) == (site.site_id, sensor.kind, sensor.unit)
        interval = timedelta(seconds=KINDS[sensor.kind].interval_seconds)
        assert AT - interval < reading.observed_at <= AT
        assert reading.seq == 1


def run(
    registry: SiteRegistry,
    start: datetime,
    minutes: int,
    step: float = 60.0,
    *,
    seed: int,
    anomaly_rate: float,
    kind: str = "",
) -> list[Reading]:
    """The readings of ``minutes`` of event time from ``start``, ticking every ``step`` seconds.

    With ``kind``, only that kind's readings (the others are not parsed).
    """
    simulator = CitySimulator(registry, seed=seed, anomaly_rate=anomaly_rate)
    wanted = kind.encode()
    readings: list[Reading] = []
    moments = int(minutes * 60 / step)
    for tick in range(moments + 1):
        at = start + timedelta(seconds=tick * step)
        readings.extend(
            Reading.model_validate_json(value) for key, value in simulator.tick(at) if key.endswith(wanted)
        )
    return readings


def test_each_sensor_reports_every_interval_of_its_kind_with_seq_counting_up() -> None:
    readings = run(SMALL, AT, minutes=60, step=45.0, seed=5, anomaly_rate=0.0)
    by_sensor: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        by_sensor[reading.sensor_id].append(reading)
    assert set(by_sensor) == {sensor.sensor_id for _, sensor in SMALL.sensors()}
    for sensor_id, series in by_sensor.items():
        interval = timedelta(seconds=KINDS[series[0].kind].interval_seconds)
        assert [r.seq for r in series] == list(range(1, len(series) + 1)), sensor_id
        assert all(b.observed_at - a.observed_at == interval for a, b in itertools.pairwise(series))
        assert len(series) == 1 + int(timedelta(minutes=60) / interval) or len(series) == int(
            timedelta(minutes=60) / interval
        )
    # A tick holds what fell due since the previous one, in event-time order.
    assert [r.observed_at for r in readings] == sorted(r.observed_at for r in readings)


def test_how_event_time_is_cut_into_ticks_does_not_change_the_stream() -> None:
    fine = run(SMALL, AT, minutes=90, step=6.0, seed=3, anomaly_rate=0.5)
    coarse = run(SMALL, AT, minutes=90, step=675.0, seed=3, anomaly_rate=0.5)
    assert fine == coarse


def test_readings_per_second_is_the_sum_of_the_cadences(city: SiteRegistry) -> None:
    simulator = CitySimulator(city)
    expected = sum(1 / KINDS[sensor.kind].interval_seconds for _, sensor in city.sensors())
    assert simulator.readings_per_second == pytest.approx(expected)
    produced = 0
    for minute in range(11):
        produced += len(simulator.tick(AT + timedelta(minutes=minute)))
    produced -= sum(1 for _ in city.sensors())  # the first tick's
    assert produced == pytest.approx(expected * 600, rel=0.02)


def test_a_tick_that_does_not_move_forward_gives_nothing() -> None:
    simulator = CitySimulator(SMALL, seed=5)
    assert simulator.tick(AT)
    assert simulator.tick(AT) == []
    assert simulator.tick(AT - timedelta(minutes=5)) == []


# --- valid data -------------------------------------------------------------------------------


def test_every_value_of_a_whole_city_through_a_day_passes_the_cleaner(city: SiteRegistry) -> None:
    cleaner = Cleaner(city)
    checked = 0
    for hour in range(0, 24, 6):
        # Ten minutes of the whole city at each time of day, with many anomalies (clamped to the
        # physical range, like every value).
        start = WEDNESDAY + timedelta(hours=hour)
        simulator = CitySimulator(city, seed=9, anomaly_rate=2.0)
        for tick in range(11):
            at = start + timedelta(minutes=tick)
            for _, event in simulator.tick(at):
                result = cleaner.clean(event, at)
                assert isinstance(result, Reading), (event, result)
                checked += 1
        assert simulator.take_labels()
    assert checked > 4 * 10 * 60 * 75


# --- rhythms ----------------------------------------------------------------------------------


def test_solar_elevation_follows_the_date_at_gwangju() -> None:
    june_noon = solar_elevation(datetime(2026, 6, 21, 12, 30, tzinfo=KST))
    december_noon = solar_elevation(datetime(2026, 12, 21, 12, 30, tzinfo=KST))
    assert june_noon == pytest.approx(90 - 35.15 + 23.44, abs=1.0)
    assert december_noon == pytest.approx(90 - 35.15 - 23.44, abs=1.0)
    # Sunrise near 05:10 in June and 07:40 in December (KST).
    assert (
        solar_elevation(datetime(2026, 6, 21, 5, 0, tzinfo=KST))
        < 0
        < solar_elevation(datetime(2026, 6, 21, 5, 30, tzinfo=KST))
    )
    assert (
        solar_elevation(datetime(2026, 12, 21, 7, 20, tzinfo=KST))
        < 0
        < solar_elevation(datetime(2026, 12, 21, 8, 0, tzinfo=KST))
    )


def test_traffic_flow_has_a_morning_rush_hour(city: SiteRegistry) -> None:
    rush = mean_of(city, "traffic_flow", WEDNESDAY + timedelta(hours=8))
    night = mean_of(city, "traffic_flow", WEDNESDAY + timedelta(hours=3))
    midday = mean_of(city, "traffic_flow", WEDNESDAY + timedelta(hours=12))
    evening = mean_of(city, "traffic_flow", WEDNESDAY + timedelta(hours=18))
    assert rush > midday > night * 3
    assert evening > midday


def test_speed_drops_and_noise_rises_with_traffic(city: SiteRegistry) -> None:
    rush, night = (
        snapshot(city, WEDNESDAY + timedelta(hours=8)),
        snapshot(city, WEDNESDAY + timedelta(hours=3)),
    )
    assert (
        statistics.fmean(of_kind(rush, "traffic_speed"))
        < statistics.fmean(of_kind(night, "traffic_speed")) - 10
    )
    assert (
        statistics.fmean(of_kind(rush, "noise_level")) > statistics.fmean(of_kind(night, "noise_level")) + 5
    )


def test_one_intersections_sensors_share_its_state() -> None:
    # Over a day, each intersection's speed falls when its flow rises, and its noise rises: its
    # three sensors report together, at the same moments, on one state.
    town = SiteRegistry.generate(count=200, seed=8)
    series: dict[tuple[str, str], dict[datetime, float]] = defaultdict(dict)
    for half_hour in range(48):
        for reading in snapshot(town, WEDNESDAY + timedelta(minutes=30 * half_hour), seed=1):
            series[(reading.site_id, reading.kind)][reading.observed_at] = reading.value
    sites = [site for site in town.sites if site.facility == "road_intersection"]
    assert len(sites) > 20
    for site in sites:
        flow = series[(site.site_id, "traffic_flow")]
        speed = series[(site.site_id, "traffic_speed")]
        noise = series[(site.site_id, "noise_level")]
        assert set(flow) == set(speed) == set(noise)
        busiest = sorted(flow, key=flow.__getitem__)
        quiet, busy = busiest[:12], busiest[-12:]
        assert statistics.fmean(speed[m] for m in busy) < statistics.fmean(speed[m] for m in quiet) - 8
        assert statistics.fmean(noise[m] for m in busy) > statistics.fmean(noise[m] for m in quiet) + 6


def test_solar_is_zero_at_night_and_positive_at_noon(city: SiteRegistry) -> None:
    assert set(of_kind(snapshot(city, WEDNESDAY + timedelta(hours=2)), "solar_power")) == {0.0}
    assert min(of_kind(snapshot(city, WEDNESDAY + timedelta(hours=12, minutes=30)), "solar_power")) > 0.0


def test_solar_output_follows_the_length_of_the_day() -> None:
    town = SiteRegistry.generate(count=1000, seed=3)

    def daily(day: datetime) -> tuple[float, int]:
        hours = [
            statistics.fmean(of_kind(snapshot(town, day + timedelta(hours=h)), "solar_power"))
            for h in range(24)
        ]
        return sum(hours), sum(1 for mean in hours if mean > 0)

    june, june_hours = daily(datetime(2026, 6, 17, tzinfo=KST))
    december, december_hours = daily(datetime(2026, 12, 16, tzinfo=KST))
    assert june > december * 1.3
    assert june_hours >= december_hours + 4  # sunrise about 05:10 against 07:40


def solar_values(city: SiteRegistry, at: datetime) -> list[float]:
    return of_kind(snapshot(city, at), "solar_power")


def test_solar_power_is_positive_at_local_noon(city: SiteRegistry) -> None:
    noon_kst = datetime(2026, 11, 29, 12, 0, tzinfo=KST).astimezone(UTC)
    assert noon_kst.hour == 3
    values = solar_values(city, noon_kst)
    assert all(value > 100.0 for value in values), min(values)


def test_solar_power_at_local_midnight_is_at_most_noise(city: SiteRegistry) -> None:
    midnight_kst = datetime(2026, 11, 29, 0, 0, tzinfo=KST).astimezone(UTC)
    assert midnight_kst.hour == 15
    values = solar_values(city, midnight_kst)
    noise = KINDS["solar_power"].noise
    assert all(0.0 <= value < 6 * noise for value in values), max(values)
    assert values.count(0.0) > len(values) / 3


def test_solar_power_is_exactly_zero_at_local_midnight(city: SiteRegistry) -> None:
    midnight_kst = datetime(2026, 11, 29, 0, 0, tzinfo=KST).astimezone(UTC)
    assert solar_values(city, midnight_kst) == [0.0] * len(solar_values(city, midnight_kst))


def test_street_lights_are_on_at_night_and_off_by_day(city: SiteRegistry) -> None:
    night = of_kind(snapshot(city, WEDNESDAY + timedelta(hours=22)), "streetlight_power")
    small_hours = of_kind(snapshot(city, WEDNESDAY + timedelta(hours=3)), "streetlight_power")
    day = of_kind(snapshot(city, WEDNESDAY + timedelta(hours=13)), "streetlight_power")
    assert min(night) > 50.0
    assert 0.0 < statistics.fmean(small_hours) < statistics.fmean(night)  # dimmed after midnight
    assert set(day) == {0.0}


def test_temperature_is_warmer_in_the_afternoon_and_in_summer(city: SiteRegistry) -> None:
    afternoon = mean_of(city, "temperature", WEDNESDAY + timedelta(hours=15))
    dawn = mean_of(city, "temperature", WEDNESDAY + timedelta(hours=5))
    assert afternoon > dawn + 3
    august = mean_of(city, "temperature", datetime(2026, 8, 5, 15, 0, tzinfo=KST))
    january = mean_of(city, "temperature", datetime(2026, 1, 21, 15, 0, tzinfo=KST))
    assert august > january + 15


def test_humidity_is_inverse_to_temperature(city: SiteRegistry) -> None:
    afternoon = mean_of(city, "humidity", WEDNESDAY + timedelta(hours=15))
    dawn = mean_of(city, "humidity", WEDNESDAY + timedelta(hours=5))
    assert dawn > afternoon + 5


def test_car_parks_fill_by_day_and_less_at_weekends(city: SiteRegistry) -> None:
    weekday = mean_of(city, "parking_occupancy", WEDNESDAY + timedelta(hours=11))
    weekend = mean_of(city, "parking_occupancy", SATURDAY + timedelta(hours=11))
    night = mean_of(city, "parking_occupancy", WEDNESDAY + timedelta(hours=2))
    assert weekday > weekend + 15
    assert weekend > night


def test_footfall_has_weekday_rush_hours_and_a_weekend_afternoon(city: SiteRegistry) -> None:
    weekday_rush = mean_of(city, "footfall", WEDNESDAY + timedelta(hours=8))
    weekday_noon = mean_of(city, "footfall", WEDNESDAY + timedelta(hours=14))
    weekend_morning = mean_of(city, "footfall", SATURDAY + timedelta(hours=8))
    weekend_afternoon = mean_of(city, "footfall", SATURDAY + timedelta(hours=14))
    assert weekday_rush > weekday_noon * 1.5
    assert weekend_afternoon > weekend_morning * 1.5


def test_batteries_charge_by_day_and_discharge_in_the_evening(city: SiteRegistry) -> None:
    morning = mean_of(city, "battery_soc", WEDNESDAY + timedelta(hours=8))
    afternoon = mean_of(city, "battery_soc", WEDNESDAY + timedelta(hours=16))
    late = mean_of(city, "battery_soc", WEDNESDAY + timedelta(hours=22, minutes=30))
    assert afternoon > morning + 40
    assert afternoon > late + 30


def test_ev_chargers_run_in_sessions_at_a_power_level() -> None:
    town = SiteRegistry.generate(count=1200, seed=6)
    start = WEDNESDAY + timedelta(hours=10)
    readings = run(town, start, minutes=180, step=600.0, seed=2, anomaly_rate=0.0, kind="ev_charging_power")
    by_sensor: dict[str, list[float]] = defaultdict(list)
    for reading in readings:
        by_sensor[reading.sensor_id].append(reading.value)
    assert len(by_sensor) > 100
    idle = charging = sessions = 0
    for values in by_sensor.values():
        idle += values.count(0.0)
        charging += len(values) - values.count(0.0)
        sessions += sum(1 for a, b in itertools.pairwise(values) if a == 0.0 and b > 0.0)
    assert idle > 0.2 * (idle + charging) and charging > 0.2 * (idle + charging)
    # A session lasts many readings: far fewer starts than charging readings.
    assert 10 < sessions < charging / 8


def test_pm25_rises_with_traffic_and_falls_with_rain(city: SiteRegistry) -> None:
    rush = mean_of(city, "air_pm25", WEDNESDAY + timedelta(hours=8, minutes=30))
    night = mean_of(city, "air_pm25", WEDNESDAY + timedelta(hours=3))
    assert rush > night * 1.5
    # A moment when one district is soaked and another dry: the soaked district's air is cleaner.
    weather = Weather(seed=0)
    districts = list(District)
    moment = WEDNESDAY
    for hour in range(24 * 60):
        moment = WEDNESDAY + timedelta(hours=hour)
        wet = [weather.at(d, moment.timestamp())[1] for d in range(len(districts))]
        if max(wet) > 0.8 and min(wet) < 0.05:
            break
    else:
        pytest.fail("no rain in sixty days")
    soaked, dry = districts[wet.index(max(wet))], districts[wet.index(min(wet))]
    readings = snapshot(city, moment)
    district_of = {site.site_id: site.district for site in city.sites}
    pm = {
        district: statistics.fmean(
            r.value for r in readings if r.kind == "air_pm25" and district_of[r.site_id] is district
        )
        for district in (soaked, dry)
    }
    assert pm[soaked] < 0.7 * pm[dry]


def test_rain_comes_in_episodes_of_hours() -> None:
    weather = Weather(seed=4)
    hours = [weather.at(0, (WEDNESDAY + timedelta(hours=h)).timestamp())[0] > 0 for h in range(24 * 90)]
    rainy = sum(hours)
    episodes = sum(1 for a, b in itertools.pairwise(hours) if b and not a)
    assert 0.03 < rainy / len(hours) < 0.25
    assert 5 < episodes < 60
    assert rainy / episodes >= 2


# --- the feed's event clock -------------------------------------------------------------------


def test_the_feed_plan_runs_event_time_faster_but_never_past_the_wall_clock(city: SiteRegistry) -> None:
    simulator = CitySimulator(city)
    now = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    plan = plan_feed(simulator, duration=60, rate=2000, now=now)
    assert plan.rate == pytest.approx(2000)
    assert plan.speed == pytest.approx(2000 / simulator.readings_per_second)
    assert 20 < plan.speed < 30  # the whole city, about 24 times faster than real time
    for elapsed in range(61):
        assert plan.start + timedelta(seconds=elapsed * plan.speed) <= now + timedelta(
            seconds=elapsed, microseconds=1
        )
    assert abs(plan.start + timedelta(seconds=60 * plan.speed) - (now + timedelta(seconds=60))) < timedelta(
        milliseconds=1
    )
    assert plan.earliest == plan.start - timedelta(minutes=15)  # waste bins report every 15 minutes
    real_time = plan_feed(simulator, duration=60, now=now)
    assert (real_time.speed, real_time.start) == (1.0, now)
    assert real_time.rate == pytest.approx(simulator.readings_per_second)
    endless = plan_feed(simulator, duration=math.inf, speed=10, now=now)
    assert endless.start == now - timedelta(days=9)
    with pytest.raises(ValueError, match="not both"):
        plan_feed(simulator, duration=60, rate=2000, speed=10)
    with pytest.raises(ValueError, match="speed"):
        plan_feed(simulator, duration=60, speed=0)
