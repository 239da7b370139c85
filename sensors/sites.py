"""The site registry: the city's public test facilities, where they are, who owns them, what they measure.

The registry is generated deterministically from a seed (the same seed gives the same city), or
loaded from a file that a city provides instead: JSON (a list of sites, as :meth:`SiteRegistry.dump`
writes it) or CSV (one row per sensor, as :meth:`SiteRegistry.dump_csv` writes it; see
:data:`CSV_COLUMNS`).

>>> city = SiteRegistry.generate(count=10, seed=1)
>>> len(city.sites), city.sites[0].site_id
(10, 'GJ-00001')
>>> sensor = city.sites[0].sensors[0]
>>> city.sensor(sensor.sensor_id) == (city.sites[0], sensor)
True
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from sensors.catalog import KINDS, Programme
from sensors.site import DISTRICT_AREA, FACILITIES, District, Sensor, Site

_SITES = TypeAdapter(list[Site])

CSV_COLUMNS = (
    "site_id",
    "name",
    "facility",
    "programme",
    "district",
    "latitude",
    "longitude",
    "owner_id",
    "sensor_id",
    "kind",
)
"""The columns of a registry CSV file, one row per sensor (any column order; a header row first).

The site's columns repeat on each of its sensors' rows and must agree; a site's rows need not be
adjacent. A row with empty ``sensor_id`` and ``kind`` is a site without sensors. ``programme`` is
one of ``urban_life``, ``mobility``, ``energy``; ``district`` one of the five district names
(``Dong-gu`` ...); ``latitude`` and ``longitude`` are decimal degrees inside the district's area
(:attr:`District.area`); ``kind`` is a kind of the sensor catalog; sensor ids are unique.
"""

_SITE_COLUMNS = CSV_COLUMNS[:8]
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # what a Reading's sensor_id and site_id may be


class RegistryError(ValueError):
    """A registry file that cannot be loaded, with every problem found, each naming its row.

    ``problems`` holds ``(line, message)`` pairs; ``line`` is the line number in the file (1 is
    the header) or 0 for a problem of the whole file.
    """

    MAX_SHOWN = 20

    def __init__(self, source: str, problems: Sequence[tuple[int, str]]) -> None:
        self.source = source
        self.problems = tuple(problems)
        shown = [
            f"{source}:{line}: {message}" if line else f"{source}: {message}" for line, message in problems
        ]
        more = len(shown) - self.MAX_SHOWN
        text = "\n".join(shown[: self.MAX_SHOWN]) + (f"\n... and {more} more" if more > 0 else "")
        super().__init__(f"{len(shown)} problem(s) in the site registry:\n{text}")


def _sites_from_csv(rows: Iterable[str], source: str) -> list[Site]:
    reader = csv.DictReader(rows, strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise RegistryError(source, [(1, f"the header is not CSV: {error}")]) from None
    if not header:
        raise RegistryError(source, [(0, f"the file is empty; the header must be {','.join(CSV_COLUMNS)}")])
    columns = [name.strip() for name in header]
    missing = [name for name in CSV_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if missing or unknown or doubled:
        parts = [
            f"missing column(s) {', '.join(missing)}" if missing else "",
            f"unknown column(s) {', '.join(unknown)}" if unknown else "",
            f"repeated column(s) {', '.join(doubled)}" if doubled else "",
        ]
        raise RegistryError(
            source, [(1, f"{'; '.join(p for p in parts if p)} (expected {','.join(CSV_COLUMNS)})")]
        )
    reader.fieldnames = columns

    problems: list[tuple[int, str]] = []
    site_fields: dict[str, tuple[int, dict[str, str]]] = {}
    sensors: dict[str, list[Sensor]] = {}
    sensor_line: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append((line, f"more values than the {len(columns)} columns of the header"))
                continue
            if any(value is None for value in row.values()):
                problems.append((line, f"fewer values than the {len(columns)} columns of the header"))
                continue
            values = {name: value.strip() for name, value in row.items()}
            problem = _check_row(values, line, site_fields, sensors, sensor_line)
            if problem:
                problems.append((line, problem))
    except csv.Error as error:
        problems.append((reader.line_num, f"not CSV: {error}"))

    sites: list[Site] = []
    for site_id, (line, fields) in site_fields.items():
        try:
            site = Site.model_validate({**fields, "sensors": tuple(sensors[site_id])})
        except ValidationError as error:  # pragma: no cover - the row checks catch these first
            problems.append((line, f"site {site_id!r}: {error.errors(include_url=False)[0]['msg']}"))
            continue
        sites.append(site)
    if problems:
        raise RegistryError(source, sorted(problems))
    return sites


def _check_row(
    values: dict[str, str],
    line: int,
    site_fields: dict[str, tuple[int, dict[str, str]]],
    sensors: dict[str, list[Sensor]],
    sensor_line: dict[str, int],
) -> str | None:
    """Check one CSV row and record its site and sensor; return what is wrong with it, if anything."""
    site_id = values["site_id"]
    if not site_id:
        return "site_id is empty"
    where = f"site {site_id!r}"
    if not _ID.fullmatch(site_id):
        return f"{where}: a site id must be 1 to 64 letters, digits, '_', '.', ':' or '-' (as in a Reading)"
    empty = [name for name in _SITE_COLUMNS if not values[name]]
    if empty:
        return f"{where}: {', '.join(empty)} is empty"
    try:
        district = District(values["district"])
    except ValueError:
        return (
            f"{where}: district {values['district']!r} is not one of {', '.join(d.value for d in District)}"
        )
    try:
        Programme(values["programme"])
    except ValueError:
        known = ", ".join(p.value for p in Programme)
        return f"{where}: programme {values['programme']!r} is not one of {known}"
    try:
        latitude, longitude = float(values["latitude"]), float(values["longitude"])
    except ValueError:
        return (
            f"{where}: latitude {values['latitude']!r} and longitude {values['longitude']!r} must be numbers"
        )
    if not district.contains(latitude, longitude):
        lat_min, lat_max, lon_min, lon_max = district.area
        return (
            f"{where}: ({latitude}, {longitude}) is outside {district.value}'s area"
            f" (latitude {lat_min}..{lat_max}, longitude {lon_min}..{lon_max})"
        )
    fields = {name: values[name] for name in _SITE_COLUMNS}
    first = site_fields.get(site_id)
    if first is None:
        site_fields[site_id] = (line, fields)
        sensors[site_id] = []
    else:
        first_line, first_fields = first
        differ = [name for name in _SITE_COLUMNS if _differs(name, fields[name], first_fields[name])]
        if differ:
            name = differ[0]
            return (
                f"{where}: {name} {fields[name]!r} differs from {first_fields[name]!r} on line {first_line}"
                " (a site's columns must agree on all its rows)"
            )
    sensor_id, kind = values["sensor_id"], values["kind"]
    if not sensor_id and not kind:
        return None  # a site without sensors
    if not sensor_id or not kind:
        return f"{where}: sensor_id and kind must both be given (or both empty for a site without sensors)"
    if not _ID.fullmatch(sensor_id):
        return (
            f"{where}: sensor id {sensor_id!r} must be 1 to 64 letters, digits, '_', '.', ':' or '-'"
            " (as in a Reading)"
        )
    if kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        return f"{where}: sensor {sensor_id!r}: kind {kind!r} is not in the sensor catalog ({known})"
    if sensor_id in sensor_line:
        return f"{where}: sensor id {sensor_id!r} is already used on line {sensor_line[sensor_id]}"
    sensor_line[sensor_id] = line
    sensors[site_id].append(Sensor(sensor_id=sensor_id, kind=kind))
    return None


def _differs(name: str, one: str, other: str) -> bool:
    if name in ("latitude", "longitude"):
        return float(one) != float(other)
    return one != other


class SiteRegistry:
    """All sites, with a fast lookup from a sensor id to its site."""

    def __init__(self, sites: Sequence[Site]) -> None:
        self.sites: tuple[Site, ...] = tuple(sites)
        self._by_site = {site.site_id: site for site in self.sites}
        self._by_sensor = {s.sensor_id: (site, s) for site in self.sites for s in site.sensors}

    def __len__(self) -> int:
        return len(self.sites)

    def site(self, site_id: str) -> Site | None:
        return self._by_site.get(site_id)

    def sensor(self, sensor_id: str) -> tuple[Site, Sensor] | None:
        return self._by_sensor.get(sensor_id)

    def sensors(self) -> Iterator[tuple[Site, Sensor]]:
        return iter(self._by_sensor.values())

    @classmethod
    def generate(cls, count: int = 3300, seed: int = 0, owners: int = 300) -> SiteRegistry:
        """A deterministic city of ``count`` facilities shared among ``owners`` organisations."""
        rng = random.Random(seed)
        facilities = list(FACILITIES.values())
        weights = [f.weight for f in facilities]
        districts = list(District)
        # A few owners hold many sites (a Zipf-like spread), most hold a handful.
        owner_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(owners)]
        sites = []
        for number in range(1, count + 1):
            facility = rng.choices(facilities, weights)[0]
            district = rng.choice(districts)
            lat, lon, radius = DISTRICT_AREA[district]
            site_id = f"GJ-{number:05d}"
            owner = rng.choices(range(owners), owner_weights)[0]
            sites.append(
                Site(
                    site_id=site_id,
                    name=f"{district.value} {facility.name.replace('_', ' ')} {number}",
                    facility=facility.name,
                    programme=facility.programme,
                    district=district,
                    latitude=round(lat + rng.uniform(-radius, radius), 6),
                    longitude=round(lon + rng.uniform(-radius, radius), 6),
                    owner_id=f"owner-{owner + 1:03d}",
                    sensors=tuple(
                        Sensor(sensor_id=f"{site_id}.{kind}", kind=kind) for kind in facility.kinds
                    ),
                )
            )
        return cls(sites)

    @classmethod
    def load(cls, path: Path) -> SiteRegistry:
        """Read a registry: CSV if the file name ends in ``.csv`` (see :data:`CSV_COLUMNS`), else JSON.

        JSON is what :meth:`dump` writes (or a city writes in that format); CSV what
        :meth:`dump_csv` writes. A CSV file that breaks a rule raises :class:`RegistryError`
        naming every bad row.
        """
        if path.suffix.lower() == ".csv":
            return cls.from_csv(path.read_text(encoding="utf-8-sig"), source=str(path))
        return cls(_SITES.validate_json(path.read_bytes()))

    @classmethod
    def from_csv(cls, text: str, source: str = "<csv>") -> SiteRegistry:
        """A registry from CSV text, one row per sensor, grouped into sites in order of first row.

        >>> text = (
        ...     "site_id,name,facility,programme,district,latitude,longitude,owner_id,sensor_id,kind\\n"
        ...     "S1,Park,car_park,mobility,Dong-gu,35.15,126.92,owner-1,S1.occ,parking_occupancy\\n"
        ...     "S1,Park,car_park,mobility,Dong-gu,35.15,126.92,owner-1,S1.air,air_pm25\\n"
        ... )
        >>> [s.sensor_id for s in SiteRegistry.from_csv(text).site("S1").sensors]
        ['S1.occ', 'S1.air']
        >>> SiteRegistry.from_csv(text.replace("35.15", "36.5", 1), source="city.csv")
        Traceback (most recent call last):
        ...
        sensors.sites.RegistryError: 1 problem(s) in the site registry:
        city.csv:2: site 'S1': (36.5, 126.92) is outside Dong-gu's area (latitude 35.126..35.166, ...)
        """
        return cls(_sites_from_csv(io.StringIO(text, newline=""), source))

    def dump(self, path: Path) -> None:
        """Write the registry as JSON (a list of sites), which :meth:`load` reads back."""
        path.write_bytes(self.to_json())

    def to_json(self) -> bytes:
        """The registry as JSON bytes, exactly as :meth:`dump` writes them."""
        return _SITES.dump_json(list(self.sites), indent=1)

    def to_csv(self) -> str:
        """The registry as CSV (:data:`CSV_COLUMNS`, one row per sensor), as :meth:`dump_csv` writes it."""
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for site in self.sites:
            head = [
                site.site_id,
                site.name,
                site.facility,
                site.programme.value,
                site.district.value,
                repr(site.latitude),
                repr(site.longitude),
                site.owner_id,
            ]
            for sensor in site.sensors or (None,):
                writer.writerow([*head, *((sensor.sensor_id, sensor.kind) if sensor else ("", ""))])
        return out.getvalue()

    def dump_csv(self, path: Path) -> None:
        """Write the registry as CSV, which :meth:`load` reads back (the file name should end in ``.csv``)."""
        path.write_text(self.to_csv(), encoding="utf-8", newline="")
