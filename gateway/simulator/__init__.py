"""An in-process OL Connect REST API simulator for the demo and the tests."""

from gateway.simulator.http.app import SERVER_OPTIONS, SIMULATOR_KEY, create_simulator_app
from gateway.simulator.model.data import load_seed
from gateway.simulator.model.filestore import pattern_bytes
from gateway.simulator.model.state import (
    ROUTES,
    AuthErrors,
    Compress,
    Fault,
    ManagedResult,
    SeenRequest,
    Simulator,
    Stall,
)

__all__ = [
    "ROUTES",
    "SERVER_OPTIONS",
    "SIMULATOR_KEY",
    "AuthErrors",
    "Compress",
    "Fault",
    "ManagedResult",
    "SeenRequest",
    "Simulator",
    "Stall",
    "create_simulator_app",
    "load_seed",
    "pattern_bytes",
]
