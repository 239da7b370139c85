"""Labelled benchmark files (NAB's layout) and detectors run over them, offline, as the pipeline runs them.

A benchmark folder holds ``timestamp,value`` CSV files (under ``data/`` in NAB's layout) and a JSON
file mapping each file's path, relative to the data folder, to its anomaly windows as
``[start, end]`` timestamps (``labels/combined_windows.json`` in NAB's layout). A file's rows are
judged in order by a fresh detector, score first then learn; a row's anomaly score is the
detector's probability, 0 while it warms up.

>>> import tempfile
>>> from models.detectors.registry import gaussian_zscore
>>> root = Path(tempfile.mkdtemp())
>>> write_series(root / "data" / "demo" / "steps.csv", [f"2026-01-01 00:{m:02d}:00" for m in range(60)],
...              [1.0] * 30 + [9.0] * 30)
>>> (root / "labels").mkdir()
>>> _ = (root / "labels" / "windows.json").write_text(
...     '{"demo/steps.csv": [["2026-01-01 00:28:00", "2026-01-01 00:33:00"]]}')
>>> [series] = load_corpus(root)
>>> series.name, len(series.values), series.windows
('demo/steps.csv', 60, (Window(start=28, end=33),))
>>> run = run_detector("gaussian_zscore", gaussian_zscore, series)
>>> len(run.scores), max(run.scores) == run.scores[30]
(60, True)
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from models.detectors.detector import SensorDetector
from models.evaluation.nab import Labelled, Window


@dataclass(frozen=True, slots=True)
class Series:
    """One labelled file: its rows and its anomaly windows (row indices)."""

    name: str
    """The file's path relative to the data folder, with ``/`` separators."""
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    windows: tuple[Window, ...]

    @property
    def labelled(self) -> Labelled:
        return Labelled(self.name, len(self.values), self.windows)


def parse_time(text: str) -> datetime:
    """A benchmark timestamp, taken as UTC when it names no zone.

    >>> parse_time("2015-09-16 18:40:00.000000"), parse_time("2015-09-16T18:40:00+02:00").hour
    (datetime.datetime(2015, 9, 16, 18, 40, tzinfo=datetime.timezone.utc), 16)
    """
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def windows_file(root: Path) -> Path:
    """The windows JSON of a folder: in ``labels/`` (``combined_windows.json`` first), else at its top."""
    for folder in (root / "labels", root):
        preferred = folder / "combined_windows.json"
        if preferred.is_file():
            return preferred
        found = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if found:
            return found[0]
    raise FileNotFoundError(f"no windows JSON in {root / 'labels'} or {root}")


def _rows(windows: Sequence[Sequence[str]], timestamps: Sequence[datetime], name: str) -> tuple[Window, ...]:
    found = []
    for start_text, end_text in windows:
        start, end = parse_time(start_text), parse_time(end_text)
        inside = [row for row, moment in enumerate(timestamps) if start <= moment <= end]
        if not inside:
            raise ValueError(f"{name}: the window {start_text} .. {end_text} holds no row")
        found.append(Window(inside[0], inside[-1]))
    return tuple(sorted(found, key=lambda window: window.start))


def read_series(path: Path) -> tuple[list[datetime], list[float]]:
    """The timestamps and values of a ``timestamp,value`` CSV file (header first)."""
    timestamps: list[datetime] = []
    values: list[float] = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if row:
                timestamps.append(parse_time(row[0]))
                values.append(float(row[1]))
    return timestamps, values


def write_series(
    path: Path, timestamps: Sequence[str], values: Sequence[float], scores: Sequence[float] | None = None
) -> None:
    """Write ``timestamp,value`` (and ``anomaly_score`` when given) rows to a CSV file, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if scores is None:
            writer.writerow(["timestamp", "value"])
            writer.writerows(zip(timestamps, values, strict=True))
        else:
            writer.writerow(["timestamp", "value", "anomaly_score"])
            writer.writerows(zip(timestamps, values, scores, strict=True))


def load_corpus(root: Path, windows: Path | None = None) -> list[Series]:
    """Every file the windows JSON names, read from ``root/data`` (NAB's layout) or ``root``."""
    data = root / "data" if (root / "data").is_dir() else root
    labels: dict[str, list[list[str]]] = json.loads((windows or windows_file(root)).read_text())
    corpus = []
    for name in sorted(labels):
        timestamps, values = read_series(data / name)
        corpus.append(Series(name, tuple(timestamps), tuple(values), _rows(labels[name], timestamps, name)))
    return corpus


@dataclass(frozen=True, slots=True)
class Run:
    """A detector's anomaly scores for every row of one file, and the time it took."""

    detector: str
    series: Series
    scores: tuple[float, ...]
    seconds: float


def run_detector(name: str, factory: Callable[[], SensorDetector], series: Series) -> Run:
    """A fresh detector over one file, timed from its first row to its last."""
    detector = factory()
    observe = detector.observe
    started = time.perf_counter()
    verdicts = [observe(value, at) for value, at in zip(series.values, series.timestamps, strict=True)]
    seconds = time.perf_counter() - started
    scores = tuple(0.0 if verdict.warming_up else verdict.probability for verdict in verdicts)
    return Run(name, series, scores, seconds)
