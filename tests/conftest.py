"""Shared settings: which PostgreSQL the store tests use (a missing server fails them, never skips)."""

import os

PG_URL = os.environ.get("DATABASE_URL_TEST", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
