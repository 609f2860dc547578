"""Operations and files the gateway has seen: owners, progress, waiting (SPEC §10.4, §11).

Below the engines and the edge, which use it; above the upstream client and
the cache's Redis connection, which it uses.
"""
