"""Talking to OL Connect: client, wire, request bodies, tokens, breaker, readiness, events."""
