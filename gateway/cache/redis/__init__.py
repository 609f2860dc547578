"""The Redis back-end: entries, tags and fences in Redis, and leases for one load per key."""
