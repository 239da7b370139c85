"""The streaming side: everything that talks to Kafka, InfluxDB, MQTT or a process.

- ``pipeline``: the worker's one pass over each batch (clean, health, score, alarm, InfluxDB).
- ``kafka``: clients, topics, the publisher, the batch consumer, the site registry topic.
- ``sinks``: InfluxDB.
- ``ingest``: the doors readings come in by (MQTT, HTTP, replay, the simulated feed).
- ``owners``: site owners' logins and ACLs, their alarm subscriptions, operators' commands.
- ``agents``: developers' own stream agents, run by the worker.
- ``cli``: ``openlab``, one module per command group.
- ``stack``: the local Kafka, InfluxDB and mosquitto, without Docker.
- ``chaos``: the city streaming while the stack is broken on a schedule.
- ``settings``: every knob, from ``OPENLAB_*``; ``city``: the city they describe.
- ``app``, ``worker``: the Faust app and its worker process; ``job``: ``openlab run``.
- ``metrics``, ``worker_metrics``: what the stages did, and a worker's metrics read back.
- ``testing``: the local stack as pytest fixtures.
"""
