"""The simulated city: readings a person would believe, with labelled anomalies.

- ``city``: :class:`~sensors.simulation.city.CitySimulator`, every sensor's readings by event time.
- ``sky``: the sun's position, and rain, cloud and wind per district.
- ``minute``: the daily profiles, and the city at one minute.
- ``character``: one site's lasting character, drawn once.
- ``kinds``: one model per kind, the noise-free value of a sensor at a moment.
- ``anomalies``: the faults and real-world events injected, and their labels.
- ``malformations``: malformed events, for the dead-letter path.
"""
