"""The SQL adapter of the service's store port: the synchronous EventStore, each call in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from cardsort_app.domain.events import Event
from cardsort_app.domain.state import SessionState
from cardsort_app.service.store_port import Decide, SessionRecord
from cardsort_app.store.eventstore import EventStore

#: How many appends may wait for their group's commit at once (threads are cheap while they wait).
APPEND_THREADS = 64


class AsyncStore:
    """Implements `cardsort_app.service.store_port.Store`."""

    def __init__(self, store: EventStore) -> None:
        self.sync = store
        # Appends wait in threads of their own: while one group commits, the next gathers every session's
        # waiting command (store/group_commit.py). On the loop's default executor (cores + 4 threads,
        # shared with every read) at most a handful could wait at once, so 20 sessions changing
        # together would still commit one small group after another.
        self._appends = ThreadPoolExecutor(APPEND_THREADS, thread_name_prefix="cardsort-append")

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(partial(fn, *args, **kwargs))

    async def create_session(self, code: str, title: str, deck: str, facilitator_key_hash: str) -> None:
        await self._run(self.sync.create_session, code, title, deck, facilitator_key_hash)

    async def get_session(self, code: str) -> SessionRecord | None:
        return await self._run(self.sync.get_session, code)

    @property
    def snapshot_every(self) -> int:
        return self.sync.snapshot_every

    async def import_session(
        self,
        code: str,
        title: str,
        deck: str,
        facilitator_key_hash: str,
        events: list[Event],
        snapshots: list[SessionState],
    ) -> SessionRecord:
        return await self._run(
            self.sync.import_session, code, title, deck, facilitator_key_hash, events, snapshots
        )

    async def load_at(self, code: str, seq: int) -> SessionState:
        return await self._run(self.sync.load_at, code, seq)

    async def add_participant(self, code: str, participant_id: str, token_hash: str) -> None:
        await self._run(self.sync.add_participant, code, participant_id, token_hash)

    async def participant_token_hash(self, code: str, participant_id: str) -> str | None:
        return await self._run(self.sync.participant_token_hash, code, participant_id)

    async def append_decided(
        self, code: str, base: SessionState, decide: Decide
    ) -> tuple[list[Event], Event | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._appends, self.sync.append_decided, code, base, decide)

    async def unpublished(self, code: str | None = None, limit: int = 500) -> list[Event]:
        return await self._run(self.sync.unpublished, code, limit)

    async def count_unpublished(self) -> int:
        return await self._run(self.sync.count_unpublished)

    async def mark_published(self, code: str, seqs: Iterable[int]) -> int:
        return await self._run(self.sync.mark_published, code, list(seqs))

    async def events_after(self, code: str, seq: int, limit: int | None = None) -> list[Event]:
        return await self._run(self.sync.events_after, code, seq, limit)

    async def load(self, code: str) -> SessionState:
        return await self._run(self.sync.load, code)

    async def find_event(self, event_id: str) -> Event | None:
        return await self._run(self.sync.get_event, event_id)

    async def ping(self) -> None:
        await self._run(self._ping)

    def _ping(self) -> None:
        self.sync.ping()
        self.sync.get_session("")  # reads the sessions table: a database that lost its schema fails here

    async def idle_sessions(self, before: datetime, limit: int = 100) -> list[str]:
        return await self._run(self.sync.idle_sessions, before, limit)

    async def close(self) -> None:
        await self._run(self.sync.dispose)
        self._appends.shutdown(wait=False)
