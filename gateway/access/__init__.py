"""Who may call and how often: clients and their keys, sessions, rate limits, the login guard."""
