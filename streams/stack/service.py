"""What the stack needs to know about one service to start, identify, check and stop it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from streams.settings import Settings


class Service(ABC):
    """One local service; its state lives in ``run_dir/<name>/``, ``<name>.pid``, ``<name>.log``."""

    name: ClassVar[str]
    """Short name used in the API, pid file and log file."""
    marker: ClassVar[str]
    """A string in the process's command line that proves it is this service."""
    config_name: ClassVar[str]
    """File name of its generated configuration; its path in the command line ties a process to
    this stack."""

    def workdir(self, settings: Settings) -> Path:
        """The directory holding the configuration and data of this service."""
        return settings.run_dir.absolute() / self.name

    def config_path(self, settings: Settings) -> Path:
        """The configuration file the service is started with."""
        return self.workdir(settings) / self.config_name

    @abstractmethod
    def host(self, settings: Settings) -> str:
        """The address the service listens on."""

    @abstractmethod
    def ports(self, settings: Settings) -> dict[str, int]:
        """The ports it listens on, by the setting they come from; the main port first."""

    @abstractmethod
    def prepare(self, settings: Settings) -> list[str]:
        """Install if needed, write the configuration and data dirs; returns the command line."""

    @abstractmethod
    def probe(self, settings: Settings, timeout: float) -> bool:
        """Whether the service answers a real request within ``timeout`` seconds."""

    @abstractmethod
    def on_ready(self, settings: Settings) -> None:
        """Idempotent set-up done each time the service has started answering."""
