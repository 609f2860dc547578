"""An integrator's day as data: a seeded list of tasks, the same for every replay.

Four kinds of task, in these shares (each the work of one run of an app or a
Workflow process):

* walk (50%): a job set down to its documents — the job set (its jobs), each job
  (its segments), each segment (its document sets), the first document set of each
  segment (its documents), and each of those documents' metadata (19 reads);
* inspect (30%): the metadata of a job set, a segment and a document and the
  properties of a job, all under one job set (4 reads);
* update (15%): a job's properties read, written, read back;
* operation (5%): output creation for a job set, progress polled through the
  answer's ``Link`` until ``done``, the result fetched.

Job sets are drawn with Zipf popularity (the k-th most popular is used 1/k as
often as the first); entities under a job set are drawn uniformly. Ids follow
the simulator's derived model: job set k holds jobs 2k-1, 2k; job j segments
2j-1, 2j; segment s document sets 10s+1..10s+3; document set d documents 10d+1, 10d+2.
"""

from __future__ import annotations

import bisect
import enum
import random
from dataclasses import dataclass

from bench.clients.paths import zipf_cdf

SHARES = (("walk", 0.50), ("inspect", 0.30), ("update", 0.15), ("operation", 0.05))


class Kind(enum.StrEnum):
    WALK = "walk"
    INSPECT = "inspect"
    UPDATE = "update"
    OPERATION = "operation"


@dataclass(frozen=True)
class Task:
    """One task: its kind, its job set, and the child drawn at each level below it."""

    number: int
    kind: Kind
    job_set: int
    job_pick: int  # 0 or 1: which of the job set's two jobs
    segment_pick: int  # 0 or 1
    document_set_pick: int  # 0..2
    document_pick: int  # 0 or 1

    @property
    def job(self) -> int:
        return 2 * self.job_set - 1 + self.job_pick

    @property
    def segment(self) -> int:
        return 2 * self.job - 1 + self.segment_pick

    @property
    def document(self) -> int:
        document_set = self.segment * 10 + 1 + self.document_set_pick
        return document_set * 10 + 1 + self.document_pick


def tasks(count: int, job_sets: int, seed: int = 7) -> list[Task]:
    """`count` tasks over job sets 1..`job_sets`; the same arguments give the same list."""
    rng = random.Random(seed)  # noqa: S311 - a load shape, not security
    cdf = zipf_cdf(job_sets)
    kinds = [Kind(name) for name, _ in SHARES]
    weights = [share for _, share in SHARES]
    out = []
    for number in range(count):
        job_set = 1 + min(bisect.bisect_left(cdf, rng.random()), job_sets - 1)
        out.append(
            Task(
                number=number,
                kind=rng.choices(kinds, weights)[0],
                job_set=job_set,
                job_pick=rng.randrange(2),
                segment_pick=rng.randrange(2),
                document_set_pick=rng.randrange(3),
                document_pick=rng.randrange(2),
            )
        )
    return out
