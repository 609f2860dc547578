"""olconnect-gateway: one credential-holding, caching endpoint in front of OL Connect."""

__version__ = "0.1.0"
