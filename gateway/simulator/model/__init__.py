"""OL Connect as the simulator models it: its state and rules, no HTTP."""
