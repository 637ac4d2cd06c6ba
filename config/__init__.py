"""Settings and the city pack (the default pack ships in ``config/pack``)."""
