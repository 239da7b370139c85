"""`openlab run` on the real stack: its summary judges the run's alarms against its labels, per type."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from models.alarms import Alarm
from models.evaluation.episodes import raised_alarms
from sensors.labels import AnomalyType, Label
from streams.city import load_city
from streams.kafka.topics import TopicNames, read_values
from streams.settings import Settings
from streams.worker import worker_environment

_ROW = re.compile(r"^│ (\w[\w ]*?) +│ +(\d+) +│ +(\d*) +│ +(\d*) +│ +(.*?) +│$")


def test_the_summary_gives_episodes_caught_per_type_and_the_false_alarms(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    labels_path = tmp_path / "labels.jsonl"
    # 40 sites at 2,000 readings a second play 16 event hours in 30 s, most of it after the
    # detectors' warm-up, with about 200 anomalies (0.2 per sensor-hour).
    command = [sys.executable, "-m", "streams", "run", "--duration", "30", "--rate", "2000"]
    command += ["--anomaly-rate", "0.2", "--workers", "1", "--labels", str(labels_path)]
    env = {**worker_environment(pipeline_settings), "COLUMNS": "200"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "alarms against injected episodes after warm-up (grace 5 readings)" in done.stdout

    rows = {match[1]: match.groups()[1:] for line in done.stdout.splitlines() if (match := _ROW.match(line))}
    labels = [Label.model_validate_json(line) for line in labels_path.read_text().splitlines()]
    injected = Counter(label.anomaly.value for label in labels)
    judged = {name: int(row[0]) for name, row in rows.items() if name in set(AnomalyType)}
    assert judged, done.stdout
    for name, episodes in judged.items():
        caught = int(rows[name][1])
        assert 0 < episodes <= injected[name] and 0 <= caught <= episodes
        assert rows[name][2] == f"{100 * caught / episodes:.0f}"
    total, caught_in_all = (int(cell) for cell in rows["all types"][:2])
    assert total == sum(judged.values()) and caught_in_all == sum(int(rows[n][1]) for n in judged)
    assert caught_in_all > 0, done.stdout  # it catches some (about 5% in so short a run)

    # The false alarms are alarms the run raised: no more than it raised, less those catching episodes.
    names = TopicNames.of(pipeline_settings)
    alarms = [
        Alarm.model_validate_json(value)
        for value in asyncio.run(read_values(pipeline_settings, names.alerts))
    ]
    false_alarms, rate = rows["false alarms"][0], rows["false alarms"][3]
    assert int(false_alarms) <= len(raised_alarms(alarms)) - caught_in_all
    watched = re.fullmatch(r"[\d.]+ per 1,000 sensor-hours \(([\d,]+) h\)", rate)
    assert watched is not None, rate
    hours = float(watched[1].replace(",", ""))
    sensors = sum(1 for _ in load_city(pipeline_settings).sensors())
    assert sensors * 10 < hours < sensors * 17  # each sensor watched for most of the event hours
