"""The profile list's filters on real Postgres: the facets index (migration 0015) answers
segment, stage, trait and campaign together, follows every write of the profile, and gives
the same answer as the conditions written out on the document (including values too long
to be a facet, numbers, campaigns of earlier touches, merged profiles)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from cdp_common.pg import create_pool, jsonb_as_python
from cdp_console.web.reads import ProfileFilter, profiles

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def pool(settings: Any, migrated_pool: Any) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(settings, max_size=3, init=jsonb_as_python)
    yield p
    await p.close()


def _doc(pid: str, segments: list[str], traits: dict[str, Any], campaigns: list[str | None]) -> dict[str, Any]:
    return {
        "id": pid,
        "segments": segments,
        "traits": {k: {"value": v, "source": "implicit"} for k, v in traits.items()},
        "touchpoints": [{"at": 1.0, "channel": "Paid Social", "campaign": c} for c in campaigns],
    }


async def test_filters_answered_by_the_facets_match_the_documents(pool: asyncpg.Pool) -> None:
    t = secrets.token_hex(4)
    camp, seg = f"ceo-auto-{t}", f"seg-{t}"
    long_note = t + "n" * 191 + "<b>'\";" + "tail-a"
    near_note = t + "n" * 191 + "<b>'\";" + "tail-b"  # the same first 200 characters
    now = datetime.now(UTC)
    rows = {
        # the seed's lead: a CEO in automotive from the LinkedIn campaign, qualified
        "lead": ("mql", _doc("", [seg], {"role": "CEO", "industry": "automotive", "note": long_note}, [camp])),
        "known": ("known", _doc("", [seg], {"role": "CEO", "industry": "automotive"}, [camp])),
        "finance": ("mql", _doc("", [seg], {"role": "CEO", "industry": "finance"}, [camp])),
        # the campaign on an earlier touch, a number as a trait value
        "earlier": ("mql", _doc("", [], {"role": "CEO", "industry": "automotive", "employees": 42}, [camp, None])),
        "near": ("anonymous", _doc("", [], {"note": near_note}, [])),
    }
    ids = {name: f"pf-{t}-{name}" for name in rows}
    async with pool.acquire() as conn:
        for name, (stage, doc) in rows.items():
            doc["id"] = ids[name]
            await conn.execute(
                "INSERT INTO profiles (id, data, stage, score, first_seen, last_seen) VALUES ($1, $2, $3, 10, $4, $4)",
                ids[name],
                doc,
                stage,
                now - timedelta(minutes=len(name)),
            )
        # a merged profile keeps no document: never listed, whatever it held
        await conn.execute(
            "INSERT INTO profiles (id, data, merged_into, stage) VALUES ($1, NULL, $2, 'mql')",
            f"pf-{t}-gone",
            ids["lead"],
        )

    async def listed(**f: Any) -> set[str]:
        items, total, more = await profiles(pool, ProfileFilter(**f))
        assert total == len(items) and not more
        return {i["id"] for i in items}

    persona = {"trait": "role=CEO", "trait2": "industry=automotive", "campaign": camp}
    assert await listed(**persona, stage="mql") == {ids["lead"], ids["earlier"]}
    assert await listed(**persona) == {ids["lead"], ids["earlier"], ids["known"]}
    assert await listed(segment=seg, stage="mql") == {ids["lead"], ids["finance"]}
    assert await listed(campaign=camp, trait="employees=42") == {ids["earlier"]}
    assert await listed(trait=f"note={long_note}") == {ids["lead"]}
    assert await listed(trait=f"note={near_note}") == {ids["near"]}
    assert await listed(campaign=camp, trait="employees") == {ids["earlier"]}
    assert await listed(campaign=camp, trait="role=CFO") == set()
    assert await listed(campaign="x'); DROP TABLE profiles; --") == set()

    # the index follows the profile's writes: promoted, the known CEO joins the leads;
    # leaving the segment, the finance CEO drops out of it
    async with pool.acquire() as conn:
        await conn.execute("UPDATE profiles SET stage = 'mql' WHERE id = $1", ids["known"])
        await conn.execute(
            "UPDATE profiles SET data = jsonb_set(data, '{segments}', '[]') WHERE id = $1", ids["finance"]
        )
    assert await listed(**persona, stage="mql") == {ids["lead"], ids["earlier"], ids["known"]}
    assert await listed(segment=seg) == {ids["lead"], ids["known"]}
