"""Tests that need no services, in under a minute (``make test-unit``): one folder per package
(``sensors``, ``models``, ``streams``, ``dashboards``), and the README and docker-compose.yml checked
against the code.
"""
