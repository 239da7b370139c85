"""The pipeline's steps, InfluxDB line protocol and the settings, without Kafka or InfluxDB."""
