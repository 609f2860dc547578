"""The benchmark: the gateway against bare aiohttp, nginx and direct calls, in one run.

Two entry points: ``python -m bench`` (`run`: starts every target on loopback,
drives each scenario against each target in turn, prints one table) and
``python -m bench.icount`` (instructions per cache hit under callgrind).

    run.py      the command line and the order of a run
    icount.py   instructions per hit, gateway against bare aiohttp
    harness.py  what every scenario shares: `Bench` (settings, processes, load,
                results), CPU per request, rotation, the simulator's controls
    scenarios/  what is measured: cached reads and miss storms (a-e), forwards
                (f), streams (s), the integrator's day (i), scale-out (w),
                clients waiting on operations (o)
    targets/    what it is measured against, and how each is started: the
                gateway, the simulator ("direct"), the bare aiohttp handler and
                pass-through, nginx (`procs` starts, stops and meters them all)
    clients/    the load: wrk or pyload, the storm client, the large-body
                client, the integrator's replay, and the paths and tasks they send
    report/     results by scenario, target and round; verdicts; the table

Imports go one way: run and icount -> scenarios -> harness -> report -> clients;
targets import nothing else of the bench, and anything above clients may use them.
"""
