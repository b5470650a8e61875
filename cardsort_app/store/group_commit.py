"""Group commit: appends that arrive together share one commit (one fsync, one round trip).

A commit costs the same whether it carries one event or fifty, so when several threads append at once
(eight writers, twenty sessions changing in the same instant) the first to arrive becomes the *leader*:
it takes every job queued so far, stores all of their events with ONE atomic write (``store_many``: a
single statement on PostgreSQL, one transaction on SQLite), and only then wakes their callers. Nothing
is acknowledged before the write that holds it is committed, so durability is that of one transaction
per append. While a leader is busy new jobs queue; when it is done it hands the lead to the oldest
waiting job (no thread of our own: nothing to stop, fork-safe).

Each job first *plans* its event without touching the database (``append``: the event itself;
``append_decided``: the decision taken on the caller's state, stored only if the session's counter is
still that state's version). A job without a plan (the decision raised, decided nothing, or saw a stale
state), whose plan the write did not store (stale counter, unknown session), or a second job of a
session already in the group, then runs its full path alone, in its own transaction. If the group's
write fails (an event id already stored, a deadlock), nothing of it was stored and every job runs
alone: one bad event never costs another its append. If the database is unreachable, or the commit
itself fails, every job of the write gets that error (none of them is acknowledged).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .appender import Prepared
from .errors import StoreUnavailable

#: A group holds at most this many jobs: bounds the time a leader's own caller waits.
MAX_GROUP = 64


@dataclass(frozen=True, slots=True)
class Planned:
    """One event to store under the session's next seq, if the counter is at ``expected`` (None: any)."""

    code: str
    event: Prepared
    expected: int | None = None


@dataclass(slots=True)
class Job:
    """One caller's append. ``plan`` never touches the database and returns None (or raises) when the
    job needs its full path; ``done(seq)`` makes the result once the plan was stored under ``seq``;
    ``work(conn)`` is the full path, in a write transaction; ``recover(exc)`` turns the IntegrityError
    of ``work`` (a stored event id) into a result or the right error, after the rollback."""

    key: str
    plan: Callable[[], Planned | None]
    done: Callable[[int], Any]
    work: Callable[[sa.Connection], Any]
    recover: Callable[[Exception], Any]
    value: Any = None
    error: BaseException | None = None
    settled: bool = False
    lead: bool = False
    wake: threading.Event | None = None

    def settle(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error, self.settled = value, error, True


StoreMany = Callable[[list[Planned]], dict[str, int]]
OpenTx = Callable[[], Any]


class GroupCommitter:
    """Runs jobs in groups (see the module doc). ``store_many`` stores planned events atomically and
    returns ``{event id: seq}`` for those it stored; ``open_tx`` opens a write transaction."""

    def __init__(self, store_many: StoreMany, open_tx: OpenTx) -> None:
        self._store_many = store_many
        self._open_tx = open_tx
        self._lock = threading.Lock()
        self._queue: list[Job] = []
        self._busy = False

    @property
    def load(self) -> int:
        """Jobs queued, plus one while a group is being written (read without the lock: a hint)."""
        return len(self._queue) + self._busy

    def submit(self, job: Job) -> Any:
        """Run ``job`` with whatever else is queued; its result once committed (or its error)."""
        with self._lock:
            lone = not self._busy
            self._busy = True
            if not lone:  # only a job that waits needs something to wait on
                job.wake = threading.Event()
                self._queue.append(job)
        if lone:  # an idle lane: the job is a group of its own at once, without going through the queue
            self._lead([job])
            return _outcome(job)
        job.wake.wait()  # type: ignore[union-attr]
        if job.lead:  # handed the lead: its group is what has queued meanwhile, itself first
            with self._lock:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            self._lead(group)
        return _outcome(job)

    def _lead(self, group: list[Job]) -> None:
        try:
            self._run(group)
        except BaseException as exc:  # a bug or an interrupt: nobody may wait forever
            for job in group:
                if not job.settled:
                    job.settle(error=exc)
            raise
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.set()  # type: ignore[union-attr]
                else:
                    self._busy = False
            for job in group:
                if job.wake is not None:  # None: a lone job, answered by its own thread
                    job.wake.set()

    def _run(self, group: list[Job]) -> None:
        if len(group) > 1:
            # Sorted by session (stable: one session's jobs keep their order), so every group takes its
            # sessions' row locks in the same order.
            group = sorted(group, key=lambda j: j.key)
        planned: list[tuple[Job, Planned]] = []
        alone: list[Job] = []
        codes: set[str] = set()
        for job in group:
            try:
                plan = job.plan()
            except Exception as exc:  # refused before anything was written (e.g. an invalid event)
                job.settle(error=exc)
                continue
            if plan is None or plan.code in codes:
                alone.append(job)
            else:
                codes.add(plan.code)
                planned.append((job, plan))
        if planned:
            try:
                seqs = self._store_many([p for _, p in planned])
            except StoreUnavailable as exc:  # unreachable, or the commit failed: nobody is acknowledged
                for job, _ in planned:
                    job.settle(error=exc)
            except Exception:  # nothing of the group was stored (one statement / one transaction)
                alone += [job for job, _ in planned]
            else:
                for job, plan in planned:
                    seq = seqs.get(plan.event.event.id)
                    if seq is None:
                        alone.append(job)
                    else:
                        try:
                            job.settle(job.done(seq))
                        except Exception as exc:
                            job.settle(error=exc)
        if len(alone) > 1:  # in the group's order
            position = {id(job): i for i, job in enumerate(group)}
            alone.sort(key=lambda j: position[id(j)])
        for job in alone:
            self._alone(job)

    def _alone(self, job: Job) -> None:
        try:
            with self._open_tx() as conn:
                value = job.work(conn)
        except sa.exc.IntegrityError as exc:
            try:
                value = job.recover(exc)
            except Exception as err:
                job.settle(error=err)
                return
        except Exception as exc:
            job.settle(error=exc)
            return
        job.settle(value)


def _outcome(job: Job) -> Any:
    if job.error is not None:
        raise job.error
    return job.value
