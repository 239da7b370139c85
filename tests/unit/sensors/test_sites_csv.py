"""The site registry as CSV: lossless round trips, district areas, and precise errors naming the row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensors.site import District, Sensor, Site
from sensors.sites import CSV_COLUMNS, RegistryError, SiteRegistry
from streams.cli.sites import sites

HEADER = ",".join(CSV_COLUMNS)
ROW = "S1,Car park,car_park,mobility,Dong-gu,35.15,126.92,owner-1,S1.occ,parking_occupancy"


@pytest.fixture(scope="module")
def city() -> SiteRegistry:
    return SiteRegistry.generate()


def rows(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def problems(text: str) -> tuple[tuple[int, str], ...]:
    with pytest.raises(RegistryError) as caught:
        SiteRegistry.from_csv(text, source="city.csv")
    return caught.value.problems


def test_the_whole_city_round_trips_through_csv(city: SiteRegistry, tmp_path: Path) -> None:
    path = tmp_path / "city.csv"
    city.dump_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1 + sum(len(site.sensors) for site in city.sites) == 1 + 6256
    loaded = SiteRegistry.load(path)
    assert loaded.sites == city.sites
    site, sensor = city.sites[77], city.sites[77].sensors[-1]
    assert loaded.sensor(sensor.sensor_id) == (site, sensor)


def test_csv_and_json_exports_are_stable_and_agree(tmp_path: Path) -> None:
    registry = SiteRegistry.generate(count=60, seed=4)
    registry.dump_csv(tmp_path / "a.csv")
    SiteRegistry.load(tmp_path / "a.csv").dump(tmp_path / "b.json")
    SiteRegistry.load(tmp_path / "b.json").dump_csv(tmp_path / "c.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()
    assert SiteRegistry.load(tmp_path / "b.json").sites == registry.sites


def test_a_site_without_sensors_and_awkward_names_round_trip() -> None:
    registry = SiteRegistry(
        [
            Site(
                site_id="S1",
                name='Car park "North", level 2',
                facility="car_park",
                programme="mobility",
                district=District.DONG_GU,
                latitude=35.1460001,
                longitude=126.923,
                owner_id="owner-1",
                sensors=(),
            ),
            Site(
                site_id="S2",
                name="광주 버스 정류장",
                facility="bus_stop",
                programme="urban_life",
                district=District.GWANGSAN_GU,
                latitude=35.1,
                longitude=126.76,
                owner_id="owner-2",
                sensors=(Sensor(sensor_id="S2.footfall", kind="footfall"),),
            ),
        ]
    )
    text = registry.to_csv()
    assert 'S1,"Car park ""North"", level 2",car_park,mobility,Dong-gu,35.1460001,126.923,owner-1,,' in text
    assert SiteRegistry.from_csv(text).sites == registry.sites


def test_columns_in_any_order_rows_in_any_order_and_blank_lines(tmp_path: Path) -> None:
    columns = list(reversed(CSV_COLUMNS))
    first = dict(zip(CSV_COLUMNS, ROW.split(","), strict=True))
    second = {**first, "site_id": "S2", "sensor_id": "S2.occ"}
    third = {**first, "sensor_id": "S1.pm25", "kind": "air_pm25", "latitude": "35.150"}
    lines = [",".join(row[c] for c in columns) for row in (first, second, third)]
    text = "\n".join([",".join(columns), lines[0], lines[1], "", lines[2]])
    path = tmp_path / "CITY.CSV"
    path.write_text("\ufeff" + text)  # a spreadsheet's byte order mark too
    registry = SiteRegistry.load(path)
    assert [site.site_id for site in registry.sites] == ["S1", "S2"]
    assert [s.sensor_id for s in registry.sites[0].sensors] == ["S1.occ", "S1.pm25"]
    assert registry.sites[0].latitude == 35.15


def test_every_generated_site_is_inside_its_district(city: SiteRegistry) -> None:
    assert all(site.district.contains(site.latitude, site.longitude) for site in city.sites)


def test_district_contains_is_its_area() -> None:
    lat_min, lat_max, lon_min, lon_max = District.BUK_GU.area
    assert District.BUK_GU.contains(lat_min, lon_max)
    assert District.BUK_GU.contains((lat_min + lat_max) / 2, (lon_min + lon_max) / 2)
    assert not District.BUK_GU.contains(lat_min - 0.0001, lon_min)
    assert not District.BUK_GU.contains(lat_max, lon_max + 0.0001)
    assert not District.BUK_GU.contains(float("nan"), lon_min)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (
            ROW.replace("Dong-gu", "Hwasun-gun"),
            "site 'S1': district 'Hwasun-gun' is not one of Dong-gu, Seo-gu",
        ),
        (
            ROW.replace("35.15", "35.30"),
            "site 'S1': (35.3, 126.92) is outside Dong-gu's area (latitude 35.126..35.166,"
            " longitude 126.903..126.943)",
        ),
        (ROW.replace("35.15", "north"), "site 'S1': latitude 'north' and longitude '126.92' must be numbers"),
        (ROW.replace("parking_occupancy", "parking"), "site 'S1': sensor 'S1.occ': kind 'parking' is not in"),
        (ROW.replace("mobility", "transport"), "site 'S1': programme 'transport' is not one of urban_life"),
        (ROW.replace("Car park", ""), "site 'S1': name is empty"),
        (ROW.replace("S1,", "S 1,", 1), "site 'S 1': a site id must be 1 to 64 letters, digits"),
        (ROW.replace("S1.occ", "S1 occ"), "site 'S1': sensor id 'S1 occ' must be 1 to 64 letters"),
        (ROW.replace(",parking_occupancy", ","), "site 'S1': sensor_id and kind must both be given"),
        (ROW + ",extra", "more values than the 10 columns of the header"),
        (ROW.rsplit(",", 1)[0], "fewer values than the 10 columns of the header"),
    ],
)
def test_a_bad_row_is_named_with_its_line_and_what_is_wrong(bad_row: str, message: str) -> None:
    good = ROW.replace("S1", "S0")
    found = problems(rows(good, bad_row))
    assert len(found) == 1
    line, text = found[0]
    assert line == 3
    assert text.startswith(message), text


def test_a_sensor_id_used_twice_names_both_lines() -> None:
    again = ROW.replace("S1,", "S2,", 1)  # another site, the same sensor id
    assert problems(rows(ROW, ROW.replace("S1.occ", "S1.x"), again)) == (
        (4, "site 'S2': sensor id 'S1.occ' is already used on line 2"),
    )


def test_a_site_whose_rows_disagree_names_the_first_row() -> None:
    other = ROW.replace("owner-1", "owner-2").replace("S1.occ", "S1.b")
    assert problems(rows(ROW, other)) == (
        (
            3,
            "site 'S1': owner_id 'owner-2' differs from 'owner-1' on line 2 (a site's columns must agree"
            " on all its rows)",
        ),
    )


def test_every_bad_row_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    bad = [ROW.replace("S1", f"S{n}").replace("Dong-gu", "Nowhere") for n in range(30)]
    path = tmp_path / "city.csv"
    path.write_text(rows(ROW.replace("S1", "OK"), *bad))
    with pytest.raises(RegistryError) as caught:
        SiteRegistry.load(path)
    assert [line for line, _ in caught.value.problems] == list(range(3, 33))
    text = str(caught.value)
    assert text.startswith("30 problem(s) in the site registry:\n")
    assert f"{path}:3: site 'S0': district 'Nowhere' is not one of" in text
    assert text.endswith("\n... and 10 more")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER.replace(",kind", ""), "missing column(s) kind (expected site_id,name,"),
        (HEADER + ",colour", "unknown column(s) colour (expected"),
        (HEADER + ",kind", "repeated column(s) kind (expected"),
    ],
)
def test_a_bad_header_is_named(header: str, message: str) -> None:
    found = problems(header + "\n" + ROW + "\n")
    assert len(found) == 1 and found[0][0] == 1
    assert found[0][1].startswith(message), found


def test_an_empty_file_says_what_is_expected() -> None:
    assert problems("") == ((0, f"the file is empty; the header must be {HEADER}"),)


def test_a_json_registry_still_loads_by_default(tmp_path: Path) -> None:
    registry = SiteRegistry.generate(count=5, seed=1)
    path = tmp_path / "registry"
    registry.dump(path)
    assert SiteRegistry.load(path).sites == registry.sites


# --- openlab sites (no Kafka needed) -----------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(sites, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiteRegistry, Path]:
    registry = SiteRegistry.generate(count=200, seed=9, owners=10)
    path = tmp_path_factory.mktemp("registry") / "city.csv"
    registry.dump_csv(path)
    return registry, path


def test_sites_list_filters_and_counts(small_city: tuple[SiteRegistry, Path]) -> None:
    registry, path = small_city
    chosen = [
        s
        for s in registry.sites
        if s.district is District.NAM_GU and s.programme == "energy" and s.owner_id == "owner-001"
    ]
    assert chosen
    code, out = invoke(
        "--registry",
        str(path),
        "list",
        "--district",
        "nam-gu",
        "--programme",
        "energy",
        "--owner",
        "owner-001",
    )
    assert code == 0, out
    sensors = sum(len(s.sensors) for s in chosen)
    assert out.rstrip().endswith(f"{len(chosen)} site(s), {sensors} sensor(s) (of 200 sites)")
    listed = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert listed == [s.site_id for s in chosen]


def test_sites_list_of_the_configured_city_counts_3300(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLAB_REGISTRY_FILE", raising=False)
    monkeypatch.setenv("OPENLAB_SITES", "3300")
    monkeypatch.setenv("OPENLAB_SEED", "0")
    code, out = invoke("list", "--facility", "nothing-of-that-kind")
    assert code == 0 and out.strip() == "0 site(s), 0 sensor(s) (of 3,300 sites)"


def test_sites_show_lists_sensors_with_kinds_units_and_ranges(small_city: tuple[SiteRegistry, Path]) -> None:
    registry, path = small_city
    site = next(s for s in registry.sites if s.facility == "air_quality_station")
    code, out = invoke("--registry", str(path), "show", site.site_id)
    assert code == 0, out
    assert site.name in out and site.owner_id in out and site.district.value in out
    for sensor in site.sensors:
        line = next(line for line in out.splitlines() if sensor.sensor_id in line)
        assert sensor.kind in line and sensor.unit in line
    assert "│ -50 " in out and "│ 60 " in out  # the temperature sensor's range


def test_sites_show_of_an_unknown_site_fails_clearly(small_city: tuple[SiteRegistry, Path]) -> None:
    _, path = small_city
    result = CliRunner().invoke(sites, ["--registry", str(path), "show", "GJ-99999"])
    assert result.exit_code == 1
    assert "no site 'GJ-99999' in the registry (200 sites" in result.output


def test_sites_export_as_csv_and_json(small_city: tuple[SiteRegistry, Path], tmp_path: Path) -> None:
    registry, path = small_city
    code, out = invoke("--registry", str(path), "export", str(tmp_path / "out.csv"))
    assert code == 0
    assert (tmp_path / "out.csv").read_bytes() == path.read_bytes()
    code, out = invoke("--registry", str(path), "export", "--format", "json")
    assert code == 0
    assert [site["site_id"] for site in json.loads(out)] == [site.site_id for site in registry.sites]
    code, out = invoke("--registry", str(path), "export", "--format", "csv", "-")
    assert out == path.read_text()
    code, _ = invoke("--registry", str(path), "export", str(tmp_path / "out.json"))
    assert SiteRegistry.load(tmp_path / "out.json").sites == registry.sites


def test_a_bad_registry_file_is_reported_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(rows(ROW, ROW.replace("S1.occ", "S1.x").replace("parking_occupancy", "nonsense")))
    result = CliRunner().invoke(sites, ["--registry", str(path), "list"])
    assert result.exit_code == 1
    assert (
        f"{path}:3: site 'S1': sensor 'S1.x': kind 'nonsense' is not in the sensor catalog" in result.output
    )
