"""What every consumer of the worker shares: batches, transactions, the batch loop and its runners.

- :mod:`~streams.runtime.batch`: the events of a batch and everything they produce (``Outputs``).
- :mod:`~streams.runtime.runner`: what a consumer's batches become, and the state it keeps.
- :mod:`~streams.runtime.transactions`: one transaction per partition's batch, fencing stale workers.
- :mod:`~streams.runtime.consumer`: the batch loop, rebalances, restores, failures.
- :mod:`~streams.runtime.stall`: a batch in hand too long, logged with every task's stack.
- :mod:`~streams.runtime.service`: a worker's consumers as one service of its Faust app.

The pass (:mod:`streams.pipeline`), the agents (:mod:`streams.agents`), the alert router and the
InfluxDB sink (:mod:`streams.sinks.points`) are runners on it.
"""
