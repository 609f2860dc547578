"""The benchmark harness: gateway vs bare aiohttp vs nginx, in one run (`python -m bench`)."""
