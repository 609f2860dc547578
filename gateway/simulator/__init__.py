"""An in-process OL Connect REST API simulator for the demo and the tests."""

from gateway.simulator.app import SIMULATOR_KEY, create_simulator_app
from gateway.simulator.data import load_seed
from gateway.simulator.state import ROUTES, Fault, Simulator

__all__ = ["ROUTES", "SIMULATOR_KEY", "Fault", "Simulator", "create_simulator_app", "load_seed"]
