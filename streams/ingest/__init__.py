"""The doors readings come in by, into ``readings.raw``.

- ``mqtt_gateway``: sensor messages from an MQTT broker, none lost; ``mqtt_source``: its MQTT
  client, in a thread of its own.
- ``http_endpoint``: ``openlab ingest``, where gateways push batches over HTTP.
- ``replay``: recorded readings (JSONL files, CSV series).
- ``feed``: the simulated city, on an event clock.
- ``devices``: the devices' logins, who may send readings for which sites.
"""
