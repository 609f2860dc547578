"""An in-process OL Connect REST API simulator for the demo and the tests."""

from gateway.simulator.app import SIMULATOR_KEY, create_simulator_app
from gateway.simulator.data import load_seed
from gateway.simulator.filestore import pattern_bytes
from gateway.simulator.state import ROUTES, Compress, Fault, SeenRequest, Simulator, Stall

__all__ = [
    "ROUTES",
    "SIMULATOR_KEY",
    "Compress",
    "Fault",
    "SeenRequest",
    "Simulator",
    "Stall",
    "create_simulator_app",
    "load_seed",
    "pattern_bytes",
]
