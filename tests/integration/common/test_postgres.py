"""Migrations against the real Postgres: applied twice cleanly, append-only."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from cdp_common.migrate import MigrationError, load_migrations, migrate

pytestmark = pytest.mark.integration


async def _scratch_schema(conn: asyncpg.Connection) -> str:
    schema = f"test_{uuid.uuid4().hex[:10]}"
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.execute(f"SET search_path TO {schema}")
    return schema


async def test_migrations_apply_once_and_twice_is_a_no_op(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        schema = await _scratch_schema(conn)
        migrations = load_migrations()
        first = await migrate(conn, migrations)
        assert first == [m.name for m in migrations]
        second = await migrate(conn, migrations)
        assert second == []
        recorded = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        assert recorded == len(migrations)
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname=$1", schema)
        }
        assert {"schema_migrations", "sources"} <= tables
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


async def test_a_changed_migration_is_refused_and_a_failed_one_leaves_no_record(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
    conn = await asyncpg.connect(pg_dsn)
    try:
        schema = await _scratch_schema(conn)
        assert await migrate(conn, load_migrations(tmp_path)) == ["0001_first.sql"]

        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, load_migrations(tmp_path))

        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
        (tmp_path / "0002_broken.sql").write_text("CREATE TABLE t2 (id int); SELECT no_such_function();")
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, load_migrations(tmp_path))
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == [1]
        assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.t2") is None
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()
