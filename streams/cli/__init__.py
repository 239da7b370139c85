"""``openlab``, the command line: one module per command group.

- ``root``: the ``openlab`` group, running the city, the worker and the local service stack.
- ``agents``, ``alerts``, ``dashboards``, ``devices``, ``evaluate``, ``models``, ``owners``,
  ``sites``: ``openlab <group> ...``.
"""

from streams.cli.root import main

__all__ = ["main"]
