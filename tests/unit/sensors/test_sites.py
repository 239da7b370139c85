"""The site registry: a plausible generated Gwangju, deterministic, and a lossless JSON file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sensors.catalog import KINDS, Programme
from sensors.site import FACILITIES, District
from sensors.sites import SiteRegistry


@pytest.fixture(scope="module")
def city() -> SiteRegistry:
    return SiteRegistry.generate()


def test_the_default_city_has_3300_sites(city: SiteRegistry) -> None:
    assert len(city) == 3300
    assert len(city.sites) == 3300
    assert city.sites[0].site_id == "GJ-00001"
    assert city.sites[-1].site_id == "GJ-03300"


def test_all_five_districts_are_used(city: SiteRegistry) -> None:
    counts = Counter(site.district for site in city.sites)
    assert set(counts) == set(District)
    assert len(District) == 5
    assert min(counts.values()) > 3300 / 5 / 2


def test_site_and_sensor_ids_are_unique(city: SiteRegistry) -> None:
    site_ids = [site.site_id for site in city.sites]
    assert len(set(site_ids)) == len(site_ids)
    sensor_ids = [sensor.sensor_id for site in city.sites for sensor in site.sensors]
    assert len(set(sensor_ids)) == len(sensor_ids)
    assert len(sensor_ids) > len(site_ids)
    assert sum(1 for _ in city.sensors()) == len(sensor_ids)


def test_coordinates_are_in_gwangju(city: SiteRegistry) -> None:
    for site in city.sites:
        assert 35.0 <= site.latitude <= 35.3, site
        assert 126.7 <= site.longitude <= 127.05, site


def test_a_few_hundred_owners_some_of_them_large(city: SiteRegistry) -> None:
    owners = Counter(site.owner_id for site in city.sites)
    assert 200 <= len(owners) <= 300
    largest = owners.most_common(5)
    assert largest[0][1] >= 100, largest
    assert all(count >= 30 for _, count in largest), largest
    assert sorted(owners.values())[len(owners) // 2] <= 10


def test_every_sensor_kind_is_in_the_catalog_and_every_kind_is_used(city: SiteRegistry) -> None:
    used = {sensor.kind for _, sensor in city.sensors()}
    assert used <= set(KINDS)
    assert used == set(KINDS)
    for _, sensor in city.sensors():
        assert sensor.unit == KINDS[sensor.kind].unit


def test_sites_are_consistent_with_their_facility(city: SiteRegistry) -> None:
    for site in city.sites:
        facility = FACILITIES[site.facility]
        assert site.programme is facility.programme
        assert isinstance(site.programme, Programme)
        assert tuple(sensor.kind for sensor in site.sensors) == facility.kinds
        assert all(sensor.sensor_id.startswith(f"{site.site_id}.") for sensor in site.sensors)
        assert site.district.value in site.name


def test_the_same_seed_gives_the_same_registry(city: SiteRegistry) -> None:
    assert SiteRegistry.generate().sites == city.sites
    assert SiteRegistry.generate(count=50, seed=7).sites == SiteRegistry.generate(count=50, seed=7).sites


def test_a_different_seed_gives_a_different_registry() -> None:
    one, two = SiteRegistry.generate(count=50, seed=7), SiteRegistry.generate(count=50, seed=8)
    assert [s.site_id for s in one.sites] == [s.site_id for s in two.sites]
    assert one.sites != two.sites
    assert [s.latitude for s in one.sites] != [s.latitude for s in two.sites]


def test_count_and_owners_are_honoured() -> None:
    small = SiteRegistry.generate(count=40, seed=3, owners=4)
    assert len(small) == 40
    assert {site.owner_id for site in small.sites} <= {"owner-001", "owner-002", "owner-003", "owner-004"}


def test_dump_then_load_round_trips(city: SiteRegistry, tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    city.dump(path)
    assert path.stat().st_size > 0
    loaded = SiteRegistry.load(path)
    assert loaded.sites == city.sites
    assert len(loaded) == len(city)
    site, sensor = city.sites[123], city.sites[123].sensors[0]
    assert loaded.sensor(sensor.sensor_id) == (site, sensor)
    assert loaded.site(site.site_id) == site


def test_a_dumped_file_is_stable(tmp_path: Path) -> None:
    registry = SiteRegistry.generate(count=20, seed=2)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    registry.dump(first)
    SiteRegistry.load(first).dump(second)
    assert first.read_bytes() == second.read_bytes()


def test_sensor_lookup(city: SiteRegistry) -> None:
    for site in (city.sites[0], city.sites[1650], city.sites[-1]):
        for sensor in site.sensors:
            found = city.sensor(sensor.sensor_id)
            assert found is not None
            assert found == (site, sensor)
            assert found[0] is site
            assert found[1] is sensor


@pytest.mark.parametrize("sensor_id", ["", "GJ-99999.air_pm25", "GJ-00001", "GJ-00001.nonsense", "gj-00001"])
def test_an_unknown_sensor_id_is_none(city: SiteRegistry, sensor_id: str) -> None:
    assert city.sensor(sensor_id) is None


def test_site_lookup(city: SiteRegistry) -> None:
    assert city.site("GJ-00042") is city.sites[41]
    assert city.site("GJ-99999") is None
