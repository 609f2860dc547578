"""The simulator's deterministic data set and the seed files that override it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Properties = list[dict[str, str]]


@dataclass
class Segment:
    """One job segment: its document-set ids and its metadata properties."""

    document_sets: list[int]
    metadata: Properties = field(default_factory=list)


def derived_segment(segment_id: int) -> Segment:
    """Build the default content of a segment from its id alone."""
    return Segment(
        document_sets=[segment_id * 10 + 1, segment_id * 10 + 2, segment_id * 10 + 3],
        metadata=[
            {"name": "customer", "value": f"customer-{segment_id}"},
            {"name": "pages", "value": str(segment_id % 7 + 1)},
        ],
    )


class DataSet:
    """Segments 1..`segments`, derived on demand, plus seeded and updated ones.

    Args:
        segments: how many derived segments exist (ids 1..segments).
        seed: a seed mapping as `load_seed` returns; its segments override or add.
    """

    def __init__(self, segments: int, seed: Mapping[str, Any] | None = None) -> None:
        if segments < 0:
            raise ValueError("segments must be >= 0")
        self._count = segments
        self._seeded = parse_seed(seed) if seed is not None else {}
        self._changed: dict[int, Segment] = {}
        self._added: dict[int, Segment] = {}
        # Seeded segments may list any document set; derived ones list id*10+k only.
        self._seeded_owner: dict[int, int] = {}
        for segment_id, segment in sorted(self._seeded.items(), reverse=True):
            for document_set in segment.document_sets:
                self._seeded_owner[document_set] = segment_id

    @property
    def count(self) -> int:
        """How many derived segments exist (ids 1..count)."""
        return self._count

    def get(self, segment_id: int) -> Segment | None:
        """Return the segment, or None when the id is unknown."""
        if segment_id in self._changed:
            return self._changed[segment_id]
        if segment_id in self._added:
            return self._added[segment_id]
        if segment_id in self._seeded:
            return self._seeded[segment_id]
        if 1 <= segment_id <= self._count:
            return derived_segment(segment_id)
        return None

    def highest_id(self) -> int:
        """The largest segment id in use (derived, seeded or added)."""
        return max([self._count, *self._seeded, *self._added])

    def add(self, segment_id: int) -> Segment:
        """Create segment `segment_id` with derived content (a job creation made it)."""
        if self.get(segment_id) is not None:
            raise ValueError(f"segment {segment_id} exists")
        segment = self._added[segment_id] = derived_segment(segment_id)
        return segment

    def owner_of_document_set(self, document_set: int) -> int | None:
        """The segment listing `document_set`, or None."""
        candidate = self.get(document_set // 10)
        if candidate is not None and document_set in candidate.document_sets:
            return document_set // 10
        # Updates never change a segment's document sets, so the seeded index stays true.
        return self._seeded_owner.get(document_set)

    def set_metadata(self, segment_id: int, properties: Properties) -> None:
        """Replace the metadata of a known segment."""
        current = self.get(segment_id)
        if current is None:
            raise KeyError(segment_id)
        self._changed[segment_id] = Segment(
            list(current.document_sets), [dict(p) for p in properties]
        )

    def reset(self) -> None:
        """Forget every update and added segment; seeded and derived content remain."""
        self._changed.clear()
        self._added.clear()


def load_seed(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML or JSON seed file.

    Raises:
        ValueError: one line naming the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read seed file ({type(exc).__name__})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not valid {_kind(path)}: {first_line}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    try:
        parse_seed(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return data


def _kind(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "YAML"


def parse_seed(seed: object) -> dict[int, Segment]:
    """Validate a seed mapping and turn it into segments by id.

    Raises:
        ValueError: naming the key path of the first problem.
    """
    if not isinstance(seed, Mapping):
        raise ValueError("the top level must be a mapping")
    unknown = set(seed) - {"segments"}
    if unknown:
        raise ValueError(f"{sorted(map(str, unknown))[0]}: unknown key")
    segments = seed.get("segments", {})
    if not isinstance(segments, Mapping):
        raise ValueError("segments: must be a mapping of segment id to segment")
    parsed: dict[int, Segment] = {}
    for key, value in segments.items():
        segment_id = _segment_id(key)
        parsed[segment_id] = _segment(segment_id, value)
    return parsed


def _segment_id(key: object) -> int:
    text = str(key)
    if isinstance(key, bool) or not text.isdecimal() or int(text) < 1:
        raise ValueError(f"segments.{text}: segment id must be a positive integer")
    return int(text)


def _segment(segment_id: int, value: object) -> Segment:
    where = f"segments.{segment_id}"
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be a mapping")
    unknown = set(value) - {"document_sets", "metadata"}
    if unknown:
        raise ValueError(f"{where}.{sorted(map(str, unknown))[0]}: unknown key")
    default = derived_segment(segment_id)
    sets = value.get("document_sets", default.document_sets)
    if not isinstance(sets, list) or not all(_is_int(s) for s in sets):
        raise ValueError(f"{where}.document_sets: must be a list of integers")
    metadata = value.get("metadata", default.metadata)
    return Segment(list(sets), parse_properties(f"{where}.metadata", metadata))


def parse_properties(where: str, value: object) -> Properties:
    """Validate a Name/Value list: `[{"name": str, "value": str}, ...]`."""
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list of name/value pairs")
    result: Properties = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) != {"name", "value"}:
            raise ValueError(f"{where}[{index}]: must have exactly the keys name and value")
        name, text = item["name"], item["value"]
        if not isinstance(name, str) or not isinstance(text, str):
            raise ValueError(f"{where}[{index}]: name and value must be strings")
        result.append({"name": name, "value": text})
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
