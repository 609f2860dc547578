"""The simulator's HTTP surface: routes, middlewares, faults and controls over the model."""
