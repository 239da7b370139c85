"""River's own anomaly detectors by name: named, checkpointed, and offline through ``openlab evaluate``."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from river import anomaly, base

from models.detectors.checkpoint import dump_detector, load_detector
from models.detectors.registry import NAMED_DETECTORS
from models.detectors.river_detectors import RIVER_DETECTORS
from streams.cli.root import main
from streams.settings import Settings
from tests.unit.models.test_evaluate import make_benchmark

START = datetime(2026, 11, 30, tzinfo=UTC)


def test_every_anomaly_detector_of_river_is_named_and_no_filter() -> None:
    detectors = {
        f"river.{name}"
        for name in anomaly.__all__
        if issubclass(getattr(anomaly, name), (base.AnomalyDetector, base.SupervisedAnomalyDetector))
    }
    assert {"river.HalfSpaceTrees", "river.LocalOutlierFactor", "river.OneClassSVM"} <= detectors
    assert set(RIVER_DETECTORS) == detectors
    assert set(RIVER_DETECTORS) <= set(NAMED_DETECTORS)


@pytest.mark.parametrize("name", sorted(RIVER_DETECTORS))
def test_a_river_detector_judges_after_its_warm_up_and_survives_its_checkpoint(name: str) -> None:
    detector = RIVER_DETECTORS[name]()
    history = [
        (20.0 + 0.5 * math.sin(minute / 9.0), START + timedelta(minutes=minute)) for minute in range(400)
    ]
    verdicts = [detector.observe(value, at) for value, at in history]
    assert verdicts[0].warming_up and not verdicts[-1].warming_up
    assert {verdict.detector for verdict in verdicts} == {f"{name}@1"}
    assert all(0.0 <= verdict.probability <= 1.0 for verdict in verdicts)
    restored = load_detector(dump_detector(detector), expected=f"{name}@1")
    assert restored is not None and restored.n_seen == 400
    spike = (400.0, START + timedelta(minutes=400))
    assert restored.observe(*spike) == detector.observe(*spike)


def test_evaluate_runs_river_detectors_named_on_the_command_line(tmp_path: Path) -> None:
    make_benchmark(tmp_path)
    names = ["river.HalfSpaceTrees", "river.StandardAbsoluteDeviation"]
    arguments = ["evaluate", str(tmp_path), "--out", str(tmp_path / "o"), "--no-plots"]
    outcome = CliRunner().invoke(main, [*arguments, *(f"--detector={name}" for name in names)])
    assert outcome.exit_code == 0, outcome.output
    with (tmp_path / "o" / "nab.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["detector"] for row in rows] == names
    for row in rows:
        assert -1000.0 <= float(row["NAB standard"]) <= 100.0
        assert float(row["µs/reading"]) > 0.0
    # The jump of 40 in the daily cycle and the level's spike are plain to a standardised value's detector.
    assert float(rows[1]["recall"]) == 1.0
    unknown = CliRunner().invoke(main, ["evaluate", str(tmp_path), "--detector", "river.NoSuchDetector"])
    assert unknown.exit_code == 2 and "river.HalfSpaceTrees" in unknown.output


def test_a_detector_setting_must_name_a_detector() -> None:
    assert Settings(detector="river.OneClassSVM").detector == "river.OneClassSVM"
    assert Settings(detector="").detector is None
    with pytest.raises(ValidationError, match=r"no detector is named 'river\.Nope'"):
        Settings(detector="river.Nope")
