"""The route catalogue: OL Connect's services and routes as data (SPEC §8.1)."""

from gateway.catalogue.model import (
    BASE,
    TTL,
    Action,
    CachePolicy,
    Invalidation,
    Kind,
    Owner,
    Reach,
    Route,
    Scope,
    Scopes,
    Shape,
    scope_for,
    scope_names,
)
from gateway.catalogue.routes import LOGIN, ROUTES, SERVICES
from gateway.catalogue.table import Service

__all__ = [
    "BASE",
    "LOGIN",
    "ROUTES",
    "SERVICES",
    "TTL",
    "Action",
    "CachePolicy",
    "Invalidation",
    "Kind",
    "Owner",
    "Reach",
    "Route",
    "Scope",
    "Scopes",
    "Service",
    "Shape",
    "scope_for",
    "scope_names",
]
