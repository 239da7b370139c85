"""The one pass on real services: cleaning, scoring, checkpoints, sinks, faults and chaos."""
