"""The clients that make the load, each cheaper than what it measures.

`load` drives a target for a fixed time with wrk, or with `pyload` in its own
process; `paths` gives both the same request paths. `storm` opens N connections
and fires one request on each at once; `transfer` moves one large body per
connection; `replay` plays an integrator's day (the tasks in `day`) against OL
Connect or the gateway. The ones run as processes: ``python -m bench.clients.X``.
"""
