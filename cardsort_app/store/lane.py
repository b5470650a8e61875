"""A write lane's own database connection, for the group write (group_commit.py).

Checked out of the engine's pool once and kept: a group's write then pays no pool checkout, no
SQLAlchemy transaction events and no per-statement SQLAlchemy overhead (it speaks the driver directly,
appender.py). Only the lane's current leader uses it, so it is never shared between two threads at once.

It is never trusted blindly: a connection that sat idle for ``IDLE_PING_AFTER_S`` is pinged before use
(the server may have dropped it meanwhile) and replaced if it does not answer; a write that fails with
anything but a constraint violation invalidates it (closed, never reused) and, when the database is
unreachable or the statement failed in the driver (``OperationalError`` / ``InterfaceError``), raises
``StoreUnavailable``: nobody of that write is acknowledged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa

from .errors import StoreUnavailable

_T = TypeVar("_T")

#: A connection idle for longer than this is pinged before use (the pool's checkout does the same).
IDLE_PING_AFTER_S = 1.0


class LaneConnection:
    """One DBAPI connection held for a write lane; ``run()`` writes with its cursor."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dbapi: Any = engine.dialect.loaded_dbapi
        self._postgres = engine.dialect.name == "postgresql"
        self._fairy: Any = None  # SQLAlchemy's pooled connection proxy, checked out and kept
        self._cursor: Any = None  # the write's cursor on it, made at the first write
        self._pid = 0
        self._last_used = 0.0

    def run(self, write: Callable[..., _T], *args: Any) -> _T:
        """``write(cursor, *args)`` with the lane's cursor, kept with its connection (PostgreSQL: in
        autocommit, a raw cursor; SQLite: the caller issues BEGIN/COMMIT). A plain call, not a context
        manager, and no cursor made per write (psycopg's costs ~5 µs): it is on every append's path."""
        cur = self._cursor
        if cur is None or self._pid != os.getpid() or self._postgres:  # SQLite: nothing to check per write
            driver = self._checkout()
            cur = self._cursor
            if cur is None:
                cur = self._cursor = driver.cursor()
        try:
            return write(cur, *args)
        except self._dbapi.IntegrityError:
            raise  # a constraint refused the write: the connection itself is fine
        except (self._dbapi.OperationalError, self._dbapi.InterfaceError) as exc:
            self._drop()
            raise StoreUnavailable(f"database unavailable: {exc}") from exc
        except BaseException:
            self._drop()  # its state is unknown (e.g. interrupted mid-statement): never reuse it
            raise
        finally:
            self._last_used = time.monotonic()

    def _checkout(self) -> Any:
        if self._fairy is not None and self._pid != os.getpid():
            # inherited over fork: the parent's socket, never used (nor closed) here
            self._fairy = self._cursor = None
        idle = time.monotonic() - self._last_used > IDLE_PING_AFTER_S
        if self._fairy is not None and self._postgres and idle:
            try:
                self._engine.dialect.do_ping(self._fairy.dbapi_connection)
            except Exception:  # dropped while idle (e.g. a server restart): take another one
                self._drop()
        if self._fairy is None:
            try:
                fairy = self._engine.raw_connection()
            except sa.exc.DBAPIError as exc:
                raise StoreUnavailable(f"database unavailable: {exc.orig or exc}") from exc
            if self._postgres:
                fairy.driver_connection.autocommit = True  # each statement its own transaction
                # Numbered placeholders, sent as they are (appender._numbered): no conversion per call.
                fairy.driver_connection.cursor_factory = psycopg.RawCursor
            self._fairy, self._pid, self._last_used = fairy, os.getpid(), time.monotonic()
        return self._fairy.driver_connection

    def _drop(self) -> None:
        """Invalidate the held connection: the pool closes it and never hands it out again."""
        fairy, self._fairy, self._cursor = self._fairy, None, None
        if fairy is None:
            return
        try:
            fairy.invalidate()
            fairy.close()
        except Exception:  # pragma: no cover - closing an already broken connection
            pass

    def close(self) -> None:
        """Give the connection up (dispose). Never back to the pool: it was switched to autocommit and
        raw cursors."""
        if self._fairy is not None and self._pid != os.getpid():
            self._fairy = self._cursor = None
        self._drop()
