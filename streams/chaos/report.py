"""What a chaos run reports: each fault's recovery, everything counted where it landed, the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from streams.chaos.consistency import Consistency
from streams.chaos.schedule import Step
from streams.chaos.tally import AlarmTally, DetectorTally, LetterTally, PointTally


@dataclass
class Recovery:
    """One fault as it happened."""

    step: Step
    struck_at: float
    """Seconds after the feed started."""
    recovered_after: float | None = None
    """Seconds from the strike until the pipeline had caught up (None: it had not in time)."""


@dataclass
class ChaosReport:
    """What one chaos run did and what landed where."""

    rate: float
    sensors: int
    feed_seconds: float = 0.0
    produced: int = 0
    over_mqtt: int = 0
    """Valid readings the MQTT devices published (through the gateway)."""
    recoveries: list[Recovery] = field(default_factory=list)
    points: PointTally | None = None
    letters: LetterTally | None = None
    alarms: AlarmTally | None = None
    detectors: DetectorTally | None = None
    consistency: Consistency | None = None
    crashed: list[str] = field(default_factory=list)
    drained: bool = False

    def failures(self) -> list[str]:
        """Why the run failed; empty when nothing was lost, doubled or left without a dead letter,
        and the committed records agree with one another and with InfluxDB."""
        found = [f"not recovered from: {r.step.fault}" for r in self.recoveries if r.recovered_after is None]
        found += self.crashed
        if not self.drained:
            found.append("the pipeline had not caught up when the drain timed out")
        if self.points is not None:
            found += [f"{n:,} readings {what}" for n, what in self._point_faults(self.points) if n]
        if self.letters is not None and self.letters.missing:
            found.append(f"{self.letters.missing:,} malformed events without a dead letter")
        if self.letters is not None and self.letters.malformed != self.letters.right_reason:
            found.append("malformed events dead-lettered with another reason than theirs")
        if self.alarms is not None and (self.alarms.missing or self.alarms.gaps):
            found.append(
                f"alarm events missing on the owners' topics: {self.alarms.missing} (gaps {self.alarms.gaps})"
            )
        if self.consistency is not None:
            found += self.consistency.failures()
        return found

    @staticmethod
    def _point_faults(points: PointTally) -> list[tuple[int, str]]:
        return [(points.lost, "lost"), (points.doubled, "written twice"), (points.unexpected, "never sent")]

    def table(self) -> Table:
        table = Table(title="openlab chaos", show_header=True)
        for column in ("", "figure"):
            table.add_column(column)
        table.add_row(
            "city", f"{self.sensors:,} sensors, {self.rate:,.0f} readings/s for {self.feed_seconds:.0f} s"
        )
        for recovery in self.recoveries:
            took = recovery.recovered_after
            table.add_row(
                f"{recovery.step.fault} at {recovery.struck_at:.0f} s",
                "NOT recovered" if took is None else f"caught up after {took:.1f} s",
            )
        if self.points is not None:
            p = self.points
            table.add_row("valid readings sent", f"{p.sent:,} ({self.over_mqtt:,} over MQTT)")
            table.add_row("points in InfluxDB", f"{p.points:,} ({p.distinct:,} distinct readings)")
            table.add_row("lost / written twice", f"{p.lost:,} / {p.doubled:,}")
        if self.letters is not None:
            d = self.letters
            others = ", ".join(f"{reason} {n}" for reason, n in d.others.most_common()) or "none"
            table.add_row("malformed sent", f"{d.malformed:,}")
            table.add_row(
                "dead-lettered",
                f"{d.dead_lettered:,} ({d.right_reason:,} with their reason, {d.repeated:,} repeated)",
            )
            table.add_row("other dead letters", others)
        if self.alarms is not None:
            a = self.alarms
            table.add_row(
                "alarm events",
                f"{a.events:,} on alerts, {a.on_owners_topics:,} on owners' topics"
                f" ({a.repeated:,} repeated, {a.missing:,} missing, {a.gaps:,} gaps)",
            )
        if self.detectors is not None:
            again = self.detectors
            table.add_row(
                "detectors warming up again",
                f"{again.warming_again:,} sensors, {again.readings:,} readings;"
                f" {again.from_scratch:,} from scratch",
            )
        if self.consistency is not None:
            self._consistency_rows(table, self.consistency)
        table.add_row("verdict", "; ".join(self.failures()) or "PASS: nothing lost, nothing twice")
        return table

    @staticmethod
    def _consistency_rows(table: Table, c: Consistency) -> None:
        table.add_row(
            "readings scored twice",
            f"{c.scored.differing:,} differently ({c.scored.identical:,} identical copies)",
        )
        table.add_row(
            "alarm events repeated",
            f"{c.alarm_events.differing:,} differently ({c.alarm_events.identical:,} identical copies)",
        )
        table.add_row(
            "alarms opened over an open one / anomalies never cleared",
            f"{c.opened_over_open:,} / {c.anomalies_left_open:,}",
        )
        table.add_row("final state records behind their sensor", f"{c.states_behind:,}")
        table.add_row("points unlike their committed record", f"{c.points_unlike_records:,} of {c.points:,}")
        table.add_row("valid readings dead-lettered", f"{c.valid_dead_lettered:,}")
        h = c.health
        table.add_row(
            f"on the {h.sensors:,} sensors whose readings all arrived",
            f"{h.gaps:,} gaps, {h.stale:,} stale; {h.sensor_faults:,} sensor faults"
            f" ({h.silences:,} for readings missing); without faults: gaps and silences 0",
        )
