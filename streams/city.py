"""The city the settings describe: a registry file, or a generated city."""

from __future__ import annotations

from sensors.sites import SiteRegistry
from streams.settings import Settings


def load_city(settings: Settings) -> SiteRegistry:
    if settings.registry_file is not None:
        return SiteRegistry.load(settings.registry_file)
    return SiteRegistry.generate(count=settings.sites, seed=settings.seed)
