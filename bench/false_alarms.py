"""``python -m bench.false_alarms``: the kinds' detectors' false alarms on the simulated city (no anomalies).

Sites of the city the pipeline runs (3,300 sites, seed 0): every EV charger and AV test track of the
first ``--chargers`` / all, plus a few sites of every other facility. Each sensor gets ``detector_for(kind)``
and is fed its readings at full cadence; anomalous readings and alerts (runs of anomalous readings) are
counted per kind, in the first two hours after the warm-up and over the whole run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from models.detectors.detector import SensorDetector
from models.detectors.registry import detector_for
from sensors.reading import Reading
from sensors.simulation.city import CitySimulator
from sensors.sites import SiteRegistry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--chargers", type=int, default=60)
    parser.add_argument("--others", type=int, default=4, help="sites of each other facility")
    parser.add_argument("--start-hours", default="0,9,16", help="UTC hours of 2026-11-23 the runs start at")
    parser.add_argument("--show", type=int, default=0, help="print this many flagged readings")
    args = parser.parse_args()
    city = SiteRegistry.generate(count=3300, seed=0)
    taken: Counter[str] = Counter()
    sites = []
    for site in city.sites:
        limit = {"ev_charger": args.chargers, "av_test_track": 1000}.get(site.facility, args.others)
        if taken[site.facility] < limit:
            taken[site.facility] += 1
            sites.append(site)
    registry = SiteRegistry(sites)
    print(f"{len(sites)} sites: {dict(taken)}", file=sys.stderr)
    label = detector_for("ev_charging_power").label
    total_early: Counter[str] = Counter()
    total_all: Counter[str] = Counter()
    alerts_early: Counter[str] = Counter()
    alerts_all: Counter[str] = Counter()
    readings: Counter[str] = Counter()
    sensors: Counter[str] = Counter()
    shown = 0
    for hour in (int(h) for h in args.start_hours.split(",")):
        start = datetime(2026, 11, 23, hour, tzinfo=UTC)
        simulator = CitySimulator(registry, seed=0, anomaly_rate=0.0)
        detectors: dict[str, SensorDetector] = {}
        warm_at: dict[str, datetime] = {}
        flagged_before: dict[str, bool] = defaultdict(bool)
        kinds: dict[str, str] = {}
        at = start
        started = time.perf_counter()
        while at < start + timedelta(days=args.days):
            at += timedelta(minutes=10)
            for _, event in simulator.tick(at):
                reading = Reading.model_validate_json(event)
                sid = reading.sensor_id
                detector = detectors.get(sid)
                if detector is None:
                    detector = detectors[sid] = detector_for(reading.kind)
                    kinds[sid] = reading.kind
                    sensors[reading.kind] += 1
                verdict = detector.observe(reading.value, reading.observed_at)
                readings[reading.kind] += 1
                if verdict.warming_up:
                    continue
                warm_at.setdefault(sid, reading.observed_at)
                early = reading.observed_at < warm_at[sid] + timedelta(hours=2)
                if verdict.anomalous:
                    total_all[reading.kind] += 1
                    total_early[reading.kind] += early
                    if not flagged_before[sid]:
                        alerts_all[reading.kind] += 1
                        alerts_early[reading.kind] += early
                    if shown < args.show:
                        shown += 1
                        print(
                            f"  {sid} {reading.observed_at:%a %H:%M} value {reading.value:.2f} "
                            f"expected [{verdict.expected_low:.3f}, {verdict.expected_high:.3f}] "
                            f"score {verdict.score:.1f} p {verdict.probability:.6f}",
                            file=sys.stderr,
                        )
                flagged_before[sid] = verdict.anomalous
        print(f"start {start:%H:%M} UTC done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"detector {label}, {args.days} days from each of {args.start_hours} UTC, anomaly_rate=0")
    print(
        f"{'kind':<20} {'sensors':>7} {'readings':>9} {'flag 2h':>8} {'alerts 2h':>9} "
        f"{'flagged':>8} {'alerts':>7}"
    )
    for kind in sorted(readings):
        print(
            f"{kind:<20} {sensors[kind]:>7} {readings[kind]:>9} {total_early[kind]:>8} "
            f"{alerts_early[kind]:>9} {total_all[kind]:>8} {alerts_all[kind]:>7}"
        )
    print(
        f"{'all':<20} {sum(sensors.values()):>7} {sum(readings.values()):>9} {sum(total_early.values()):>8} "
        f"{sum(alerts_early.values()):>9} {sum(total_all.values()):>8} {sum(alerts_all.values()):>7}"
    )


if __name__ == "__main__":
    main()
