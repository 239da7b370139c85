"""``openlab evaluate``: detectors offline, without Kafka, on labelled benchmark files and the simulated city.

Over a benchmark folder (``timestamp,value`` CSV files and a windows JSON, as NAB lays them out) it
runs every chosen detector, one fresh detector per file, and reports the NAB score under its three
profiles (one threshold per detector and profile over all files, as NAB sweeps it), precision,
recall, mean detection delay and microseconds per reading, in total and per file. With
``--cross-validate`` it reports instead each group held out (a detector's setting and threshold chosen
on the other groups, :mod:`models.evaluation.cross_validation`), overall, and in-sample. ``--simulated``
runs each sensor's own detector (``detector_for(kind)``, as the pipeline does) over the simulated
city's labelled stream and reports recall and precision per anomaly type.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.detectors.registry import DEFAULT_DETECTOR, DETECTORS, GRIDS, NAMED_DETECTORS, detector_for
from models.evaluation.benchmark import Series, load_corpus, write_series
from models.evaluation.cross_validation import Setting, cross_validate, group_of, table
from models.evaluation.episodes import table_rows
from models.evaluation.figures import DetectorResult, evaluate_detector
from models.evaluation.nab import PROFILES, STANDARD, probation_length
from models.evaluation.simulated import CityResult, evaluate_city, judge_city_alarms, simulate_city
from sensors.sites import SiteRegistry

MISSED_BELOW = 0.25
"""An anomaly type whose recall is below this is one the detector cannot catch."""

Row = tuple[str, ...]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)


def _delay(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def totals_rows(results: Sequence[DetectorResult]) -> tuple[Row, list[Row]]:
    """The header and one row per detector of the corpus table."""
    header = (
        "detector",
        *(f"NAB {profile.name}" for profile in PROFILES),
        "threshold",
        "precision",
        "recall",
        "mean delay (rows)",
        "µs/reading",
    )
    rows = [
        (
            result.detector,
            *(f"{result.score(profile.name):.1f}" for profile in PROFILES),
            f"{result.profile(STANDARD.name).threshold:.6g}",
            f"{result.precision:.3f}",
            f"{result.recall:.3f}",
            _delay(result.mean_delay),
            f"{result.micros_per_reading:.1f}",
        )
        for result in results
    ]
    return header, rows


def file_rows(results: Sequence[DetectorResult]) -> tuple[Row, list[Row]]:
    """The header and one row per file and detector of the per-file table."""
    header = (
        "file",
        "detector",
        *(f"NAB {profile.name}" for profile in PROFILES),
        "windows detected",
        "false positive rows",
        "mean delay (rows)",
        "µs/reading",
    )
    rows: list[Row] = []
    for number, series in enumerate(run.series for run in (results[0].runs if results else ())):
        for result in results:
            outcome = result.profile(STANDARD.name).files[number]
            run = result.runs[number]
            rows.append(
                (
                    series.name,
                    result.detector,
                    *(f"{result.profile(profile.name).files[number].score:.1f}" for profile in PROFILES),
                    f"{outcome.detected}/{outcome.windows}",
                    str(outcome.false_rows),
                    _delay(sum(outcome.delays) / len(outcome.delays) if outcome.delays else None),
                    f"{1e6 * run.seconds / len(run.scores):.1f}",
                )
            )
    return header, rows


def file_summary_rows(results: Sequence[DetectorResult]) -> tuple[Row, list[Row]]:
    """One row per file: each detector's standard score, windows detected and false positive rows."""
    header = ("file", "rows", *(result.detector for result in results))
    rows: list[Row] = []
    for number, run in enumerate(results[0].runs if results else ()):
        cells = []
        for result in results:
            outcome = result.profile(STANDARD.name).files[number]
            cells.append(
                f"{outcome.score:.1f} ({outcome.detected}/{outcome.windows}, {outcome.false_rows} FP)"
            )
        rows.append((run.series.name, str(len(run.scores)), *cells))
    return header, rows


def city_rows(result: CityResult) -> tuple[Row, list[Row]]:
    """The header and one row per anomaly type of the simulated city's table."""
    header: Row = ("anomaly type", "labels", "caught", "recall", "precision", "mean delay (s)")
    rows: list[Row] = [
        (
            kind.anomaly.value,
            str(kind.labels),
            str(kind.caught),
            f"{kind.recall:.2f}",
            f"{kind.precision:.2f}",
            _delay(kind.mean_delay_seconds),
        )
        for kind in result.types
    ]
    return header, rows


def markdown(header: Row, rows: Sequence[Row]) -> str:
    """A Markdown table.

    >>> print(markdown(("a", "b"), [("1", "2")]))
    | a | b |
    | --- | --- |
    | 1 | 2 |
    """
    lines = [f"| {' | '.join(header)} |", f"|{' --- |' * len(header)}"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def _table(title: str, header: Row, rows: Sequence[Row]) -> Table:
    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def _write_csv(path: Path, header: Row, rows: Sequence[Row]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def plot_file(path: Path, series: Series, results: Sequence[DetectorResult], number: int) -> None:
    """The signal, its windows and probationary period, and each detector's detections, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    times = [(moment - _EPOCH) / _DAY for moment in series.timestamps]  # matplotlib's dates: days since 1970
    figure, axes = pyplot.subplots(figsize=(14, 4.5))
    axes.plot(times, series.values, color="0.35", linewidth=0.7, label="value")
    axes.xaxis_date()
    first = probation_length(len(series.values))
    axes.axvspan(times[0], times[first], color="0.9", label="probation")
    for index, window in enumerate(series.windows):
        axes.axvspan(
            times[window.start],
            times[window.end],
            color="tab:red",
            alpha=0.15,
            label="window" if index == 0 else None,
        )
    low, high = min(series.values), max(series.values)
    span = (high - low) or 1.0
    for offset, result in enumerate(results):
        threshold = result.profile(STANDARD.name).threshold
        scores = result.runs[number].scores
        hits = [row for row in range(first, len(scores)) if scores[row] >= threshold]
        axes.scatter(
            [times[row] for row in hits],
            [high + span * (0.05 + 0.06 * offset)] * len(hits),
            marker="|",
            s=80,
            label=f"{result.detector} (≥ {threshold:.6g})",
        )
    axes.set_title(series.name)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    figure.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    pyplot.close(figure)


def _missed(result: CityResult) -> list[str]:
    return [kind.anomaly.value for kind in result.types if kind.labels and kind.recall < MISSED_BELOW]


def _corpus(data: Path, windows: Path | None) -> list[Series]:
    try:
        return load_corpus(data, windows)
    except (OSError, ValueError, KeyError) as error:
        raise click.ClickException(f"cannot read the benchmark in {data}: {error}") from None


def _cross_validation(
    console: Console, data: Path, corpus: Sequence[Series], names: Sequence[str], out: Path | None
) -> list[str]:
    """Cross-validate each named detector over the groups of ``corpus``: print, and return, its table."""
    groups = len({group_of(series.name) for series in corpus})
    console.print(f"{len(corpus)} files in {groups} groups, {sum(len(s.windows) for s in corpus)} windows")
    report = [f"## Cross-validation across the groups of `{data}`", ""]
    for name in names:
        grid = GRIDS.get(name, {name: NAMED_DETECTORS[name]})
        console.print(f"cross-validating {name} ({len(grid)} setting(s)) ...")
        settings = [Setting(label, factory) for label, factory in grid.items()]
        try:
            result = cross_validate(name, settings, corpus)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        header, rows = table(result)
        title = f"{name}: NAB score held out per group, {result.micros_per_reading:.1f} µs/reading"
        console.print(_table(title, header, rows))
        report += [f"### {title}", "", markdown(header, rows), ""]
        if out is not None:
            _write_csv(out / f"cross_validation_{name}.csv", header, rows)
    return report


@click.command()
@click.argument("data", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--windows",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The windows JSON [default: DATA/labels/combined_windows.json, else a JSON in DATA/labels or DATA].",
)
@click.option(
    "--detector",
    "detectors",
    multiple=True,
    type=click.Choice(sorted(NAMED_DETECTORS)),
    help="A detector to run (repeat to compare): ours, or River's own as river.<class>"
    f" [default: all of ours, {DEFAULT_DETECTOR} first].",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write tables and plots here.")
@click.option(
    "--results",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each file's timestamp,value,anomaly_score rows to RESULTS/<detector>/<file>.",
)
@click.option("--plots/--no-plots", default=True, show_default=True, help="With --out: one PNG per file.")
@click.option(
    "--cross-validate",
    is_flag=True,
    help="Instead of one in-sample table: for each group of DATA (a folder under data/), choose each"
    " detector's setting and threshold on the other groups and score it; held out beside in-sample"
    f" [default detector: {DEFAULT_DETECTOR}].",
)
@click.option(
    "--simulated", is_flag=True, help="Also judge detector_for(kind) on the simulated city, per type."
)
@click.option("--sites", default=40, show_default=True, help="Sites of the simulated city.")
@click.option("--days", default=4.0, show_default=True, help="Days of simulated event time.")
@click.option("--seed", default=5, show_default=True, help="Seed of the simulated city.")
@click.option(
    "--anomaly-rate", default=0.04, show_default=True, help="Anomalies per sensor-hour in the simulated city."
)
def evaluate(
    data: Path | None,
    windows: Path | None,
    detectors: tuple[str, ...],
    out: Path | None,
    results: Path | None,
    plots: bool,
    cross_validate: bool,
    simulated: bool,
    sites: int,
    days: float,
    seed: int,
    anomaly_rate: float,
) -> None:
    """Score detectors offline on labelled files in DATA (NAB's layout) and/or the simulated city."""
    if data is None and not simulated:
        raise click.UsageError("give a benchmark folder (DATA), --simulated, or both")
    console = Console(soft_wrap=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    report: list[str] = []
    if data is not None and cross_validate:
        report += _cross_validation(
            console, data, _corpus(data, windows), detectors or (DEFAULT_DETECTOR,), out
        )
    elif data is not None:
        corpus = _corpus(data, windows)
        names = detectors or (DEFAULT_DETECTOR, *sorted(set(DETECTORS) - {DEFAULT_DETECTOR}))
        rows = sum(len(series.values) for series in corpus)
        console.print(f"{len(corpus)} files, {rows:,} rows, {sum(len(s.windows) for s in corpus)} windows")
        done = []
        for name in names:
            console.print(f"running {name} ...")
            done.append(evaluate_detector(name, NAMED_DETECTORS[name], corpus))
        header, table = totals_rows(done)
        console.print(_table(f"NAB on {data}", header, table))
        per_file_header, per_file = file_rows(done)
        console.print(
            _table("NAB standard per file (windows detected, false positive rows)", *file_summary_rows(done))
        )
        report += [f"## NAB on `{data}`", "", markdown(header, table), "", "### Per file", ""]
        report += [markdown(per_file_header, per_file), ""]
        if out is not None:
            _write_csv(out / "nab.csv", header, table)
            _write_csv(out / "nab_files.csv", per_file_header, per_file)
            if plots:
                for number, series in enumerate(corpus):
                    plot_file((out / "plots" / series.name).with_suffix(".png"), series, done, number)
        if results is not None:
            for result in done:
                for run in result.runs:
                    stamps = [moment.strftime("%Y-%m-%d %H:%M:%S") for moment in run.series.timestamps]
                    write_series(
                        results / result.detector / run.series.name, stamps, run.series.values, run.scores
                    )
    if simulated:
        console.print(f"simulating {sites} sites for {days:g} days ...")
        stream = simulate_city(sites=sites, days=days, seed=seed, anomaly_rate=anomaly_rate)
        city = evaluate_city("detector_for(kind)", detector_for, stream)
        header, table = city_rows(city)
        title = (
            f"simulated city: {city.readings:,} readings, {city.true_alerts} true and {city.false_alerts}"
            f" false alerts (precision {city.precision:.2f}), {city.micros_per_reading:.1f} µs/reading"
        )
        console.print(_table(title, header, table))
        missed = _missed(city)
        console.print(f"cannot catch (recall < {MISSED_BELOW}): {', '.join(missed) or 'none'}")
        report += [f"## Simulated city ({sites} sites, {days:g} days, seed {seed})", "", title + ".", ""]
        report += [
            markdown(header, table),
            "",
            f"Cannot catch (recall < {MISSED_BELOW}): {', '.join(missed) or 'none'}.",
        ]
        episodes = judge_city_alarms(detector_for, stream, SiteRegistry.generate(count=sites, seed=seed))
        episode_header, episode_table = table_rows(episodes)
        console.print(_table(episodes.title, episode_header, episode_table))
        report += ["", episodes.title + ".", "", markdown(episode_header, episode_table)]
        if out is not None:
            _write_csv(out / "simulated.csv", header, table)
            _write_csv(out / "simulated_alarms.csv", episode_header, episode_table)
    if out is not None:
        (out / "evaluation.md").write_text("\n".join(report) + "\n")
        plotted = plots and data is not None and not cross_validate
        console.print(f"tables{' and plots' if plotted else ''} written to {out}")
