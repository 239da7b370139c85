"""openlab's tests: ``unit`` (no services, ``make test-unit``), ``integration`` (the real local
stack), and the helpers both share (``conftest``, ``feeding``, ``garbage``, ``logins``, ``webhook``,
``agent_plugins``).
"""
