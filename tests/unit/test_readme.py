"""The README is what a user reads first: it must name every setting and every dead-letter reason."""

from __future__ import annotations

from pathlib import Path

from sensors.cleaning import Reason
from streams.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"OPENLAB_{name.upper()}"
        for name in Settings.model_fields
        if f"`OPENLAB_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_dead_letter_reason_is_documented() -> None:
    missing = [reason.value for reason in Reason if f"| `{reason.value}` |" not in README]
    assert missing == []
