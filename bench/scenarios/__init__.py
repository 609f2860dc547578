"""What is measured, one module per family of scenarios, each driving every target in turn.

`cached`: reads served from the cache (a hits on one id, b hits over Zipf ids,
c misses, a' hits at half the peak rate, d miss storms, e memory); `forward`:
small pass-through calls (f); `streams`: large downloads and uploads (s);
`integrator`: an integrator's day replayed direct and through the gateway (i);
`scaleout`: one and two workers, memory and Redis caches (w); `waiting`: clients waiting
on running operations, next to the same clients polling (o).
"""
