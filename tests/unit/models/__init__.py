"""Detectors, scoring, alarms and their offline evaluation (NAB, cross-validation, episodes)."""
