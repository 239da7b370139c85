"""Detector checkpoints: a detector to bytes and back, for a compacted topic keyed by sensor.

The bytes are a header line (``openlab-detector``, the checkpoint format, the detector's
``name@version``) and the pickled detector. Unpickling only builds classes from ``models`` and
``river`` and a few plain containers: a checkpoint cannot run other code. Anything unreadable, of
another format, or of another detector version than the caller expects gives ``None``, never an
exception: the sensor then starts a fresh detector.

>>> from datetime import UTC, datetime
>>> from models.detectors.registry import detector_for
>>> detector = detector_for("temperature")
>>> _ = detector.observe(14.0, datetime(2026, 11, 30, tzinfo=UTC))
>>> data = dump_detector(detector)
>>> data[:40]
b'openlab-detector 1 seasonal_likelihood@6'
>>> restored = load_detector(data, expected="seasonal_likelihood@6")
>>> restored.n_seen, restored.model.level.mean
(1, 14.0)
>>> load_detector(data, expected="seasonal_likelihood@4") is None, load_detector(b"junk") is None
(True, True)
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from models.detectors.detector import SensorDetector

FORMAT = 1
"""The layout of the bytes; a checkpoint of another format is not read."""

_MAGIC = b"openlab-detector"
_ALLOWED_MODULES = ("models.", "river.")
_ALLOWED_GLOBALS = frozenset(
    {
        ("collections", "deque"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("builtins", "float"),
        ("builtins", "int"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
        ("datetime", "datetime"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("functools", "partial"),
        ("random", "Random"),
    }
)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_ALLOWED_MODULES) or (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a checkpoint may not build {module}.{name}")


def dump_detector(detector: SensorDetector) -> bytes:
    """The checkpoint of ``detector``: header line, then the pickled detector."""
    header = b"%s %d %s\n" % (_MAGIC, FORMAT, detector.label.encode())
    return header + pickle.dumps(detector, protocol=pickle.HIGHEST_PROTOCOL)


def checkpoint_label(data: bytes) -> str | None:
    """The ``name@version`` a checkpoint holds, or ``None`` if it is not one of this format."""
    head, newline, _ = data.partition(b"\n")
    parts = head.split(b" ")
    if not newline or len(parts) != 3 or parts[0] != _MAGIC or parts[1] != str(FORMAT).encode():
        return None
    try:
        return parts[2].decode()
    except UnicodeDecodeError:
        return None


def load_detector(data: bytes, expected: str | None = None) -> SensorDetector | None:
    """The detector in ``data``; ``None`` if unreadable or not ``expected`` (a ``name@version``)."""
    label = checkpoint_label(data)
    if label is None or (expected is not None and label != expected):
        return None
    body = data.partition(b"\n")[2]
    try:
        detector = _Unpickler(io.BytesIO(body)).load()
    except Exception:  # a checkpoint that cannot be read is a fresh start, whatever broke
        return None
    if not isinstance(detector, SensorDetector) or detector.label != label:
        return None
    return detector
