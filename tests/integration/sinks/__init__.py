"""Integration tests of the sinks (streams/sinks/) on the real services."""
