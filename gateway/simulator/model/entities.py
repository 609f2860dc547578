"""The entity model: which job sets, jobs, segments, documents, data and content sets exist.

With N job segments (the `DataSet`'s derived range) the model derives, from ids alone:

* job set k (1..ceil(N/4)) holds jobs 2k-1, 2k; job j (1..ceil(N/2)) holds segments 2j-1, 2j
  and content items 2j-1, 2j; segment s holds its document sets (s*10+1..3, unless seeded);
  document set d holds documents d*10+1, d*10+2;
* data set k holds records 4k-3..4k; record r (1..N) holds two nested `detail` records
  NESTED_BASE + r*10 + 1..2; content set k holds items 4k-3..4k; item i renders record i.

Operations create further entities above those ranges; deletes hide a set and everything
under it. Every update lives in dictionaries that `reset()` clears.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gateway.simulator.model.data import DataSet, Properties

#: Nested records of derived record r are NESTED_BASE + r*10 + 1 and + 2.
NESTED_BASE = 10**12
DETAIL_TABLE = "detail"


class Family(enum.StrEnum):
    """An entity family, named as in its service path (`entity/<family>`)."""

    JOBSETS = "jobsets"
    JOBS = "jobs"
    JOBSEGMENTS = "jobsegments"
    DOCUMENTSETS = "documentsets"
    DOCUMENTS = "documents"
    DATASETS = "datasets"
    DATARECORDS = "datarecords"
    CONTENTSETS = "contentsets"
    CONTENTITEMS = "contentitems"

    @property
    def singular(self) -> str:
        """`jobset`, `datarecord`, ...: the name find requests and labels use."""
        return self.value[:-1]

    @property
    def label(self) -> str:
        """Words for messages: `job set`, `data record`, ..."""
        for suffix in ("set", "segment", "record", "item"):
            if self.singular.endswith(suffix) and self.singular != suffix:
                return f"{self.singular[: -len(suffix)]} {suffix}"
        return self.singular


Ref = tuple[Family, int]
METADATA_FAMILIES = frozenset(
    {Family.JOBSETS, Family.JOBS, Family.JOBSEGMENTS, Family.DOCUMENTSETS, Family.DOCUMENTS}
)
PROPERTY_FAMILIES = frozenset(Family) - {Family.JOBSEGMENTS, Family.DOCUMENTSETS, Family.DOCUMENTS}
DELETABLE_FAMILIES = frozenset({Family.JOBSETS, Family.CONTENTSETS, Family.DATASETS})


@dataclass
class Node:
    """Where an entity hangs (its parent) and what it holds (its children's ids)."""

    parent: Ref | None
    children: list[int] = field(default_factory=list)


class Entities:
    """Every entity family over one `DataSet` of job segments.

    Args:
        data: the job segments; their range sizes every derived family.
    """

    def __init__(self, data: DataSet) -> None:
        self.data = data
        self._clear()

    def reset(self) -> None:
        """Forget created entities, deletes and updates (the segments' own too)."""
        self._clear()
        self.data.reset()

    def _clear(self) -> None:
        self._created: dict[Family, dict[int, Node]] = {f: {} for f in Family}
        self._extra_children: dict[Ref, list[int]] = {}
        self._deleted: set[Ref] = set()
        self._next: dict[Family, int] = {}
        self._item_record: dict[int, int] = {}
        self._job_contents: dict[int, list[int]] = {}
        self._metadata: dict[Ref, Properties] = {}
        self._properties: dict[Ref, Properties] = {}
        # Record fields that differ from the derived ones, nested records' table names,
        # and the content sets made by email content creation (all others are print).
        self.field_values: dict[int, Properties] = {}
        self.tables: dict[int, str] = {}
        self.email_sets: set[int] = set()

    # Structure --------------------------------------------------------------

    def exists(self, family: Family, entity_id: int) -> bool:
        """Whether the entity exists and no set above it was deleted."""
        ref: Ref | None = (family, entity_id)
        while ref is not None:
            node = self._node(*ref)
            if node is None or ref in self._deleted:
                return False
            ref = node.parent
        return True

    def require(self, family: Family, entity_id: int) -> Node:
        """The entity's node; KeyError when it does not exist."""
        node = self._node(family, entity_id)
        if node is None or not self.exists(family, entity_id):
            raise KeyError((family, entity_id))
        return node

    def children(self, family: Family, entity_id: int) -> list[int]:
        """Ids of what the entity holds (jobs of a job set, records of a data set, ...)."""
        node = self.require(family, entity_id)
        return [*node.children, *self._extra_children.get((family, entity_id), [])]

    def parent(self, family: Family, entity_id: int) -> Ref | None:
        """The entity's parent, None for a set (or a seeded segment outside every job)."""
        return self.require(family, entity_id).parent

    def item_record(self, item_id: int) -> int:
        """The data record content item `item_id` was rendered from."""
        self.require(Family.CONTENTITEMS, item_id)
        return self._item_record.get(item_id, item_id)

    def job_contents(self, job_id: int) -> list[int]:
        """The content items of a job."""
        self.require(Family.JOBS, job_id)
        if job_id in self._job_contents:
            return list(self._job_contents[job_id])
        return [i for i in (2 * job_id - 1, 2 * job_id) if i <= self.data.count]

    def delete(self, family: Family, entity_id: int) -> None:
        """Mark a set deleted: it and everything under it answer 404 from now on."""
        self.require(family, entity_id)
        self._deleted.add((family, entity_id))

    def _node(self, family: Family, entity_id: int) -> Node | None:
        created = self._created[family].get(entity_id)
        return created if created is not None else self._derived(family, entity_id)

    def _derived(self, family: Family, i: int) -> Node | None:
        n = self.data.count
        sets, jobs = (n + 3) // 4, (n + 1) // 2
        match family:
            case Family.JOBSETS if 1 <= i <= sets:
                return Node(None, [j for j in (2 * i - 1, 2 * i) if j <= jobs])
            case Family.DATASETS | Family.CONTENTSETS if 1 <= i <= sets:
                return Node(None, list(range(4 * i - 3, min(4 * i, n) + 1)))
            case Family.JOBS if 1 <= i <= jobs:
                return Node(
                    (Family.JOBSETS, (i + 1) // 2), [s for s in (2 * i - 1, 2 * i) if s <= n]
                )
            case Family.JOBSEGMENTS:
                segment = self.data.get(i)
                if segment is None:
                    return None
                return Node((Family.JOBS, (i + 1) // 2) if i <= n else None, segment.document_sets)
            case Family.DOCUMENTSETS:
                owner = self.data.owner_of_document_set(i)
                return None if owner is None else Node((Family.JOBSEGMENTS, owner), _documents(i))
            case Family.DOCUMENTS if i % 10 in (1, 2):
                return Node((Family.DOCUMENTSETS, i // 10))
            case Family.CONTENTITEMS if 1 <= i <= n:
                return Node((Family.CONTENTSETS, (i + 3) // 4))
            case Family.DATARECORDS if 1 <= i <= n:
                return Node((Family.DATASETS, (i + 3) // 4), [_nested(i, 1), _nested(i, 2)])
            case Family.DATARECORDS if i > NESTED_BASE and (i - NESTED_BASE) % 10 in (1, 2):
                record = (i - NESTED_BASE) // 10
                return Node((Family.DATARECORDS, record)) if 1 <= record <= n else None
        return None

    # Creation by operations -------------------------------------------------

    def highest(self, family: Family) -> int:
        """The largest id given out in a family (documents and document sets excepted)."""
        if family is Family.JOBSEGMENTS:
            return self.data.highest_id()
        n = self.data.count
        derived = {Family.JOBS: (n + 1) // 2, Family.DATARECORDS: n, Family.CONTENTITEMS: n}
        return self._next.get(family, derived.get(family, (n + 3) // 4) + 1) - 1

    def _allocate(self, family: Family) -> int:
        new_id = self.highest(family) + 1
        if family is not Family.JOBSEGMENTS:  # segments count through `data`
            self._next[family] = new_id + 1
        return new_id

    def create_data_set(self, rows: list[Properties]) -> int:
        """A new data set with one record per row of fields; returns its id."""
        data_set = self._allocate(Family.DATASETS)
        self._created[Family.DATASETS][data_set] = Node(None)
        self.add_records((Family.DATASETS, data_set), rows)
        return data_set

    def add_records(
        self, parent: Ref, rows: list[Properties], table: str = DETAIL_TABLE
    ) -> list[int]:
        """Add records under a data set, or nested records (in `table`) under a record."""
        self.require(*parent)
        new_ids: list[int] = []
        for fields in rows:
            record = self._allocate(Family.DATARECORDS)
            self._created[Family.DATARECORDS][record] = Node(parent)
            self.field_values[record] = [dict(f) for f in fields]
            if parent[0] is Family.DATARECORDS:
                self.tables[record] = table
            new_ids.append(record)
        self._extra_children.setdefault(parent, []).extend(new_ids)
        return new_ids

    def create_content_set(self, records: list[int]) -> int:
        """A new content set with one item per data record; returns its id."""
        content_set = self._allocate(Family.CONTENTSETS)
        items: list[int] = []
        for record in records:
            item = self._allocate(Family.CONTENTITEMS)
            self._created[Family.CONTENTITEMS][item] = Node((Family.CONTENTSETS, content_set))
            self._item_record[item] = record
            items.append(item)
        self._created[Family.CONTENTSETS][content_set] = Node(None, items)
        return content_set

    def create_job_set(self, jobs: list[list[int]]) -> int:
        """A new job set: one job per list of content items, one segment per item."""
        job_set = self._allocate(Family.JOBSETS)
        job_ids: list[int] = []
        for items in jobs:
            job = self._allocate(Family.JOBS)
            segments: list[int] = []
            for _item in items:
                segment = self._allocate(Family.JOBSEGMENTS)
                document_sets = self.data.add(segment).document_sets
                self._created[Family.JOBSEGMENTS][segment] = Node((Family.JOBS, job), document_sets)
                segments.append(segment)
            self._created[Family.JOBS][job] = Node((Family.JOBSETS, job_set), segments)
            self._job_contents[job] = list(items)
            job_ids.append(job)
        self._created[Family.JOBSETS][job_set] = Node(None, job_ids)
        return job_set

    # Metadata, properties and record fields ---------------------------------

    def metadata(self, family: Family, entity_id: int) -> Properties:
        """Current metadata of a job set, job, segment, document set or document."""
        self.require(family, entity_id)
        if family is Family.JOBSEGMENTS:
            segment = self.data.get(entity_id)  # never None once require() passed
            return [dict(p) for p in segment.metadata] if segment is not None else []
        stored = self._metadata.get((family, entity_id))
        return [dict(p) for p in (stored if stored is not None else _metadata(family, entity_id))]

    def set_metadata(self, family: Family, entity_id: int, values: Properties) -> None:
        """Replace the whole metadata list (OL Connect's PUT replaces, it does not merge)."""
        self.require(family, entity_id)
        if family is Family.JOBSEGMENTS:
            self.data.set_metadata(entity_id, values)
        else:
            self._metadata[(family, entity_id)] = [dict(p) for p in values]

    def properties(self, family: Family, entity_id: int) -> Properties:
        """Current properties of a job set, job, content set or item, data set or record."""
        self.require(family, entity_id)
        stored = self._properties.get((family, entity_id))
        if stored is not None:
            return [dict(p) for p in stored]
        return [
            {"name": "origin", "value": "simulator"},
            {"name": "label", "value": f"{family.singular}-{entity_id}"},
        ]

    def set_properties(self, family: Family, entity_id: int, values: Properties) -> None:
        """Replace the whole property list."""
        self.require(family, entity_id)
        self._properties[(family, entity_id)] = [dict(p) for p in values]


def _documents(document_set: int) -> list[int]:
    return [document_set * 10 + 1, document_set * 10 + 2]


def _nested(record: int, k: int) -> int:
    return NESTED_BASE + record * 10 + k


def _metadata(family: Family, entity_id: int) -> Properties:
    derived = [{"name": family.singular, "value": f"{family.singular}-{entity_id}"}]
    if family is Family.DOCUMENTS:
        derived.append({"name": "pages", "value": str(entity_id % 3 + 1)})
    return derived
