"""Telemetry: structured logging (configuration, context, redaction, output) and metrics."""
