"""Readings through the doors: MQTT, HTTP, replay, devices' logins and bad input at each."""
