"""Faust schemas that decode topic values with the pipeline's pydantic models.

A value that does not decode does not raise inside Faust (where it would be logged and
skipped): it arrives in the agent as a :class:`~sensors.cleaning.Rejection`, so the agent can
dead-letter it with its reason.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import faust
from pydantic import BaseModel

from sensors.cleaning import Rejection, parse

Model = TypeVar("Model", bound=BaseModel)


class ModelSchema(faust.Schema[bytes, Any], Generic[Model]):
    """Keys are raw bytes (the sensor or site id); values are ``model`` as JSON."""

    def __init__(self, model: type[Model]) -> None:
        super().__init__(key_type=bytes, key_serializer="raw", value_serializer="raw")
        self.model = model

    def loads_key(self, app: Any, message: Any, **_: Any) -> bytes:
        # The key as it came (None if it had none): Faust's serializer registry returns the same
        # bytes, through three calls per event.
        key: bytes = message.key
        return key

    def loads_value(self, app: Any, message: Any, **_: Any) -> Model | Rejection:
        return parse(self.model, message.value)

    def dumps_value(self, app: Any, value: BaseModel | bytes, *, headers: Any, **_: Any) -> tuple[bytes, Any]:
        payload = value if isinstance(value, bytes) else value.model_dump_json().encode()
        return payload, headers
