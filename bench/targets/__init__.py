"""What the gateway is measured against, and the gateway itself as deployed.

`procs` starts and stops every process under test (the simulator, which is also
the "direct" target; the gateway from a generated config; the two bare aiohttp
baselines; redis-server) and reads their CPU time and memory. `bare` is the
framework's ceiling for a hit, `bare_proxy` its ceiling for a forward (each run
as ``python -m bench.targets.X``), `nginx` the C reference.
"""
