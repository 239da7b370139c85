"""The event schema, cleaning, health, the site registry, units and the simulated city."""
