"""Reads computed over the entity model: every set of a family, content set page details."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from gateway.simulator.model.entities import Entities, Family
from gateway.simulator.model.errors import bad_request

#: The `media` of every simulated page, as a Page Details entry names it.
PAGE_MEDIA: Final = {
    "name": "Plain Letter Paper",
    "size": "Letter",
    "width": "8.5in",
    "height": "11in",
}
#: `GET entity/contentsets?type=`: what each content set was made for.
CONTENT_SET_TYPES: Final = ("print", "email")


def existing_ids(entities: Entities, family: Family) -> Iterator[int]:
    """Every existing id of a family, in ascending order of its parents."""
    if family in (Family.DOCUMENTSETS, Family.DOCUMENTS):
        parent = Family.JOBSEGMENTS if family is Family.DOCUMENTSETS else Family.DOCUMENTSETS
        for owner in existing_ids(entities, parent):
            yield from entities.children(parent, owner)
        return
    for entity_id in range(1, entities.highest(family) + 1):
        if entities.exists(family, entity_id):
            yield entity_id


def all_sets(entities: Entities, family: Family, kind: str | None = None) -> dict[str, list[int]]:
    """`GET entity/<family>`: the JSON Identifier List of every set (job, data or content);
    content sets filtered by `type` (`print` or `email`, any letter case) when given; the
    other roots take no query parameter and ignore any, as JAX-RS does."""
    ids = list(existing_ids(entities, family))
    if kind is not None and family is Family.CONTENTSETS:
        wanted = kind.lower()
        if wanted not in CONTENT_SET_TYPES:
            raise bad_request(f"type must be one of {', '.join(CONTENT_SET_TYPES)}", kind)
        email = wanted == "email"
        ids = [i for i in ids if (i in entities.email_sets) == email]
    return {"identifiers": ids}


def item_pages(item: int) -> int:
    """How many pages a simulated content item has (1 to 3, from its id)."""
    return item % 3 + 1


def _details(count: int) -> list[dict[str, Any]]:
    return [{"count": count, "media": dict(PAGE_MEDIA)}] if count else []


def content_set_pages(entities: Entities, content_set: int, detail: bool) -> Any:
    """Page Details: the summary `{pages: [{count, media}]}` of the set, or (detail) one
    `{id, pages: [...]}` per content item."""
    items = entities.children(Family.CONTENTSETS, content_set)
    if detail:
        return [{"id": i, "pages": _details(item_pages(i))} for i in items]
    return {"pages": _details(sum(item_pages(i) for i in items))}
