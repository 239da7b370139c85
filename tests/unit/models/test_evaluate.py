"""``openlab evaluate`` on a small benchmark folder built here, and on a small simulated city."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.detectors.registry import DEFAULT_DETECTOR, DETECTORS
from models.evaluation.benchmark import load_corpus, write_series
from models.evaluation.nab import Window
from models.evaluation.simulated import evaluate_city, simulate_city
from streams.cli.root import main

START = datetime(2026, 3, 2, tzinfo=UTC)


def stamp(row: int) -> str:
    return (START + timedelta(minutes=10 * row)).strftime("%Y-%m-%d %H:%M:%S")


def make_benchmark(root: Path) -> None:
    """NAB's layout: a daily cycle with a jump, and a noisy level with a spike, each with one window."""
    cycle = [20.0 + 10.0 * math.sin(2 * math.pi * row / 144) + 0.3 * (row % 5) for row in range(1000)]
    for row in range(800, 1000):
        cycle[row] += 40.0
    level = [5.0 + 0.1 * ((row * 7) % 11) for row in range(600)]
    level[450] = 60.0
    write_series(root / "data" / "synthetic" / "cycle.csv", [stamp(r) for r in range(1000)], cycle)
    write_series(root / "data" / "other" / "level.csv", [stamp(r) for r in range(600)], level)
    windows = {
        "synthetic/cycle.csv": [[stamp(780) + ".000000", stamp(840) + ".000000"]],
        "other/level.csv": [[stamp(440), stamp(470)]],
    }
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def test_a_benchmark_folder_loads_with_windows_as_rows(tmp_path: Path) -> None:
    make_benchmark(tmp_path)
    corpus = load_corpus(tmp_path)
    assert [series.name for series in corpus] == ["other/level.csv", "synthetic/cycle.csv"]
    assert corpus[0].windows == (Window(440, 470),)
    assert corpus[1].windows == (Window(780, 840),)
    assert len(corpus[1].values) == 1000


def test_a_flat_folder_with_its_windows_json_loads_too(tmp_path: Path) -> None:
    write_series(tmp_path / "a.csv", [stamp(r) for r in range(10)], [1.0] * 10)
    (tmp_path / "windows.json").write_text(json.dumps({"a.csv": [[stamp(3), stamp(5)]]}))
    [series] = load_corpus(tmp_path)
    assert series.windows == (Window(3, 5),)


def test_a_window_with_no_row_is_an_error(tmp_path: Path) -> None:
    write_series(tmp_path / "a.csv", [stamp(r) for r in range(10)], [1.0] * 10)
    (tmp_path / "windows.json").write_text(
        json.dumps({"a.csv": [["2030-01-01 00:00:00", "2030-01-02 00:00:00"]]})
    )
    with pytest.raises(ValueError, match="holds no row"):
        load_corpus(tmp_path)


def test_evaluate_prints_every_detectors_nab_scores_and_writes_tables_plots_and_results(
    tmp_path: Path,
) -> None:
    data, out, results = tmp_path / "bench", tmp_path / "out", tmp_path / "results"
    make_benchmark(data)
    outcome = CliRunner().invoke(
        main, ["evaluate", str(data), "--out", str(out), "--results", str(results)], env={"COLUMNS": "250"}
    )
    assert outcome.exit_code == 0, outcome.output
    for text in (
        "NAB standard",
        "NAB reward_low_FP_rate",
        "NAB reward_low_FN_rate",
        "µs/reading",
        *DETECTORS,
    ):
        assert text in outcome.output
    with (out / "nab.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["detector"] == DEFAULT_DETECTOR
    assert {row["detector"] for row in rows} == set(DETECTORS)
    for row in rows:
        assert -1000.0 <= float(row["NAB standard"]) <= 100.0
        assert float(row["µs/reading"]) > 0.0
    with (out / "nab_files.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 2 * len(DETECTORS)
    assert "| detector | NAB standard |" in (out / "evaluation.md").read_text()
    assert (out / "plots" / "synthetic" / "cycle.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "plots" / "other" / "level.png").is_file()
    for detector in DETECTORS:
        with (results / detector / "synthetic" / "cycle.csv").open() as handle:
            written = list(csv.reader(handle))
        assert written[0] == ["timestamp", "value", "anomaly_score"]
        assert len(written) == 1001
        assert written[1][0] == stamp(0)
        assert all(0.0 <= float(row[2]) <= 1.0 for row in written[1:])


def test_seasonal_likelihood_finds_both_synthetic_anomalies(tmp_path: Path) -> None:
    make_benchmark(tmp_path)
    outcome = CliRunner().invoke(
        main, ["evaluate", str(tmp_path), "--detector", "seasonal_likelihood", "--out", str(tmp_path / "o")]
    )
    assert outcome.exit_code == 0, outcome.output
    with (tmp_path / "o" / "nab.csv").open() as handle:
        [row] = list(csv.DictReader(handle))
    assert float(row["recall"]) == 1.0
    assert float(row["NAB standard"]) > 50.0


def test_the_default_detector_finds_both_synthetic_anomalies(tmp_path: Path) -> None:
    make_benchmark(tmp_path)
    outcome = CliRunner().invoke(
        main, ["evaluate", str(tmp_path), "--detector", DEFAULT_DETECTOR, "--out", str(tmp_path / "o")]
    )
    assert outcome.exit_code == 0, outcome.output
    with (tmp_path / "o" / "nab.csv").open() as handle:
        [row] = list(csv.DictReader(handle))
    assert float(row["recall"]) == 1.0
    assert float(row["NAB standard"]) > 50.0


def test_evaluate_cross_validates_across_the_groups(tmp_path: Path) -> None:
    make_benchmark(tmp_path)
    out = tmp_path / "o"
    outcome = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(tmp_path),
            "--cross-validate",
            "--detector",
            "gaussian_zscore",
            "--detector",
            DEFAULT_DETECTOR,
            "--out",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "2 files in 2 groups" in outcome.output
    assert f"cross-validating {DEFAULT_DETECTOR} (4 setting(s))" in outcome.output
    with (out / "cross_validation_gaussian_zscore.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["held out"] for row in rows] == ["other", "synthetic", "overall held out", "in-sample"]
    assert all(-1000.0 <= float(row["standard"]) <= 100.0 for row in rows)
    assert (out / f"cross_validation_{DEFAULT_DETECTOR}.csv").is_file()
    assert "## Cross-validation across the groups of" in (out / "evaluation.md").read_text()


def test_cross_validation_needs_two_groups(tmp_path: Path) -> None:
    write_series(tmp_path / "data" / "one" / "a.csv", [stamp(r) for r in range(10)], [1.0] * 10)
    (tmp_path / "windows.json").write_text(json.dumps({"one/a.csv": [[stamp(3), stamp(5)]]}))
    outcome = CliRunner().invoke(main, ["evaluate", str(tmp_path), "--cross-validate"])
    assert outcome.exit_code != 0
    assert "two groups at least" in outcome.output


def test_evaluate_needs_a_folder_or_the_simulated_city() -> None:
    outcome = CliRunner().invoke(main, ["evaluate"])
    assert outcome.exit_code == 2
    assert "--simulated" in outcome.output


def test_evaluate_reports_the_simulated_city_per_anomaly_type(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--simulated",
            "--sites",
            "4",
            "--days",
            "1.5",
            "--anomaly-rate",
            "0.3",
            "--out",
            str(tmp_path),
        ],
        env={"COLUMNS": "250"},
    )
    assert outcome.exit_code == 0, outcome.output
    for anomaly in ("spike", "dip", "level_shift", "drift", "flatline", "dropout", "noise_burst"):
        assert anomaly in outcome.output
    assert "cannot catch" in outcome.output
    with (tmp_path / "simulated.csv").open() as handle:
        rows = {row["anomaly type"]: row for row in csv.DictReader(handle)}
    assert set(rows) >= {"spike", "dip", "level_shift", "drift", "flatline", "dropout", "noise_burst"}
    assert "alarms against injected episodes after warm-up (grace 5 readings)" in outcome.output
    with (tmp_path / "simulated_alarms.csv").open() as handle:
        alarms = {row["anomaly type"]: row for row in csv.DictReader(handle)}
    judged = {name: row for name, row in alarms.items() if name not in ("all types", "false alarms")}
    assert judged and all(0 <= int(row["caught"]) <= int(row["episodes"]) for row in judged.values())
    assert int(alarms["all types"]["episodes"]) == sum(int(row["episodes"]) for row in judged.values())
    assert "per 1,000 sensor-hours" in alarms["false alarms"]["median delay (s)"]


def test_the_simulated_city_counts_every_label_after_the_warm_up_once() -> None:
    stream = simulate_city(sites=3, days=1.5, seed=9, anomaly_rate=0.3)
    result = evaluate_city("detector_for", lambda kind: DETECTORS["gaussian_zscore"](), stream)
    counted = sum(kind.labels for kind in result.types)
    assert 0 < counted <= len(stream.labels)
    assert all(kind.caught <= kind.labels for kind in result.types)
    assert all(0.0 <= kind.precision <= 1.0 for kind in result.types)
    assert result.readings == sum(len(readings) for readings in stream.readings.values())
