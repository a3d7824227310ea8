"""The console: the JSON API (``cdp_console.api``) and the marketer's pages
(``cdp_console.web``) in one FastAPI app. Every API route needs a bearer token (read or
admin scope) except health, and personalization, which browsers call with a source write
key; every page needs a signed-in session."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cdp_common.kafka import make_producer
from cdp_common.pg import create_pool, jsonb_as_python
from cdp_common.settings import CommonSettings, ConsoleSettings
from cdp_console import api, web
from cdp_console.guard import Guard
from cdp_console.personalize_edge import PersonalizeEdge
from cdp_console.state import State


def create_app(common: CommonSettings | None = None, settings: ConsoleSettings | None = None) -> FastAPI:
    st = State(common or CommonSettings(), settings or ConsoleSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # jsonb as Python values, like the segmenter's stores; a plan per query's values, as the
        # profile filters' selectivity ranges from a handful of profiles to all of them (a
        # generic plan, chosen by asyncpg's prepared statements after five runs, scanned 50,000
        # rows for a filter matching 8,333 at 1M profiles: 230 ms instead of 60)
        st.pool = await create_pool(
            st.common,
            min_size=1,
            max_size=8,
            init=jsonb_as_python,
            server_settings={"plan_cache_mode": "force_custom_plan"},
        )
        st.plain = await create_pool(st.common, min_size=1, max_size=2)  # jsonb as text: the enricher's stores
        await st.refresh()
        st.producer = make_producer(st.common, client_id="cdp-console")
        await st.producer.start()
        task = asyncio.create_task(st.refresh_forever())
        yield
        task.cancel()
        await st.producer.stop()
        await st.pool.close()
        await st.plain.close()
        await st.redis.aclose()

    app = FastAPI(
        title="CDP console",
        version="1.0",
        lifespan=lifespan,
        responses=api.ERRORS,
        description="Profile card, campaign insight, definitions, personalization and privacy. "
        "Send `Authorization: Bearer <token>` (create one with `cdp tokens create --scope read|admin`).",
    )
    app.state.console = st
    app.add_middleware(PersonalizeEdge, state=st)  # the browsers' hot path, before the routing
    app.add_middleware(Guard)  # NUL characters refused, security headers on every answer (outermost)

    api.mount(app, st)
    web.mount(app)
    return app
