"""The console API and pages (FastAPI). Every route needs a bearer token (read or admin
scope) except health, and personalization, which browsers call with a source write key."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from cdp_common import deliveries, privacy, rejects, schemas
from cdp_common.definitions.plans import PlanError
from cdp_common.definitions.rule_store import PlanStore, RuleStore
from cdp_common.definitions.segments import DefinitionError, parse_segment
from cdp_common.definitions.store import DefinitionStore
from cdp_common.hotkeys import RedisKeys
from cdp_common.identity import ANON, namespace_of
from cdp_common.kafka import make_producer
from cdp_common.pg import create_pool, jsonb_as_python
from cdp_common.redisio import make_redis
from cdp_common.settings import CommonSettings, ConsoleSettings, SyncerSettings
from cdp_common.sources import SourceStore
from cdp_console import changes, data, tokens, web
from cdp_console.guard import Guard
from cdp_console.personalize import Slot, parse_slot
from cdp_console.personalize_edge import PersonalizeEdge, basic_user, personalize_answer
from cdp_console.ratelimit import RateLimiter

logger = logging.getLogger(__name__)
LOOKUP = """
local pid = redis.call('GET', KEYS[1])
if not pid then return false end
return redis.call('GET', ARGV[1] .. pid)
"""


class RetryFailed(BaseModel):
    """Which failed deliveries go back in their queue: all, one destination's, or named leads."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    destination: str | None = Field(default=None, max_length=32)
    lead_event_ids: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, alias="leadEventIds", max_length=1000
    )


class State:
    def __init__(self, common: CommonSettings, settings: ConsoleSettings) -> None:
        self.common = common
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.plain: Any = None
        self.redis = make_redis(common)
        self.producer: Any = None  # created in the lifespan (aiokafka needs the running loop)
        self.write_keys: dict[str, tuple[str, frozenset[str]]] = {}  # write key -> (source id, origins)
        self.origins: frozenset[str] = frozenset()  # every source's allowed origins (preflights)
        self.limiter = RateLimiter(settings.personalize_rate, settings.personalize_burst)
        self.erasing = asyncio.Lock()
        self.lookup = None if common.redis_cluster else self.redis.register_script(LOOKUP)
        self.slots: list[Slot] = []
        self.registry = CollectorRegistry()
        self.personalize_seconds = Histogram(
            "cdp_console_personalize_seconds",
            "Time to answer a personalization request (server side)",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.025, 0.05, 0.1),
        )

    async def summary_of(self, keys: RedisKeys, anonymous_id: str) -> bytes | None:
        """The profile summary an anonymousId points to: one round trip inside Redis; on a
        cluster two (the id's key and the profile's key live in different slots)."""
        if self.lookup is not None:
            raw: bytes | None = await self.lookup(keys=[keys.anonymous(anonymous_id)], args=[keys.profile_prefix])
            return raw
        pid = await self.redis.get(keys.anonymous(anonymous_id))
        return await self.redis.get(keys.profile(pid.decode())) if pid else None

    async def refresh(self) -> None:
        assert self.pool is not None
        sources = await SourceStore(self.plain or self.pool).list_all()
        enabled = [s for s in sources if s.enabled]
        self.write_keys = {s.write_key: (s.id, frozenset(s.origins)) for s in enabled}
        self.origins = frozenset(o for s in enabled for o in s.origins)
        rows = await self.pool.fetch("SELECT id, rules, default_variant FROM personalization_slots ORDER BY id")
        self.slots = [parse_slot(r["id"], r["rules"], r["default_variant"]) for r in rows]

    async def publish_erasures(self) -> int:
        """Every erasure in the outbox to ``cdp.privacy.erasures`` (for the destinations) and
        a tombstone per profile to the compacted lead topic (which then forgets the person's
        lead records); each outbox row is deleted once Kafka has acknowledged it."""
        assert self.pool is not None
        async with self.erasing:
            done = 0
            for e in await privacy.pending_erasures(self.pool):
                value = e.model_dump_json(by_alias=True).encode()
                for p in e.profile_ids:
                    await self.producer.send_and_wait(self.settings.erasures_topic, value, key=p.encode())
                    for topic in (self.settings.leads_topic, self.settings.leads_failed_topic):
                        await self.producer.send_and_wait(topic, None, key=p.encode())
                await privacy.erasure_published(self.pool, e.request_id)
                done += 1
            return done

    async def erase(self, pid: str, actor: str, via: str) -> dict[str, Any] | None:
        """Erase a person (right to be forgotten): Postgres in one transaction, then the hot
        state, then the announcement to the destinations (from the outbox); audited."""
        assert self.pool is not None
        gone = await privacy.erase(self.pool, pid)
        if gone is None:
            return None
        keys = RedisKeys(self.settings.redis_prefix)
        pipe = self.redis.pipeline(transaction=False)
        for p in gone["profiles"]:
            pipe.delete(keys.profile(p))
            for sid in gone["segments"]:
                pipe.srem(keys.segment(sid), p)
        for ident in gone["identities"]:
            if namespace_of(ident) == ANON:
                pipe.delete(keys.anonymous(ident.split(":", 1)[1]))
        await pipe.execute()
        try:
            await self.publish_erasures()
        except Exception as e:  # kept in the outbox: published by the next attempt
            logger.warning("erasure of %s not yet published (%s); will retry", pid, e)
        await data.audit(self.pool, actor, "erase", pid, {"via": via, "identities": len(gone["identities"])})
        return {"erased": pid, "profiles": gone["profiles"], "suppressedIdentities": len(gone["identities"])}

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            try:
                await self.refresh()
            except Exception as e:  # keep serving the last good set
                logger.warning("could not refresh sources/slots (%s)", e)
            try:
                await self.publish_erasures()
            except Exception as e:
                logger.warning("could not publish pending erasures (%s); will retry", e)


def problem(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


# Every answer an operation can give is in the OpenAPI document: errors are JSON objects with
# ``detail`` (a message, or FastAPI's list of field errors for a malformed request) or, on
# the public personalization endpoint, ``error``.
_PROBLEM = {
    "type": "object",
    "properties": {
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "error": {"type": "string"},
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": what, "content": {"application/json": {"schema": _PROBLEM}}}
    for code, what in (
        (400, "Malformed request (e.g. a NUL character, invalid JSON, or missing selectors)"),
        (401, "No bearer token, or an unknown or revoked one (personalization: an unknown write key)"),
        (403, "The token's scope is not enough, or the origin is not allowed for the source"),
        (404, "No such profile, segment, rule, slot, plan or schema"),
        (413, "The body is larger than the console accepts"),
        (422, "The request's shape or values are invalid; nothing changed"),
        (429, "Rate limited; see Retry-After"),
    )
}


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
        responses=ERRORS,
        description="Profile card, campaign insight, definitions, personalization and privacy. "
        "Send `Authorization: Bearer <token>` (create one with `cdp tokens create --scope read|admin`).",
    )
    app.state.console = st
    app.add_middleware(PersonalizeEdge, state=st)  # the browsers' hot path, before the routing
    app.add_middleware(Guard)  # NUL characters refused, security headers on every answer (outermost)

    def pool() -> asyncpg.Pool:
        assert st.pool is not None
        return st.pool

    def require(scope: str) -> Callable[[Request], Awaitable[tokens.Principal]]:
        async def dep(request: Request) -> tokens.Principal:
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            if not token:
                raise problem(401, "a bearer token is required (cdp tokens create --scope read|admin)")
            who = await tokens.lookup(pool(), token)
            if who is None:
                raise problem(401, "unknown or revoked token")
            if not who.can(scope):
                raise problem(403, f"this token has the {who.scope} scope; {scope} is required")
            return who

        return dep

    Reader = Annotated[tokens.Principal, Depends(require("read"))]
    Admin = Annotated[tokens.Principal, Depends(require("admin"))]

    # ---- ops ------------------------------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            await pool().fetchval("SELECT 1")
            await st.redis.ping()
        except Exception as e:
            return JSONResponse({"status": "unavailable", "error": str(e)}, 503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return PlainTextResponse(generate_latest(st.registry), media_type=CONTENT_TYPE_LATEST)

    # ---- profiles -------------------------------------------------------------------------

    async def _find(pid: str | None, anonymous_id: str | None, user_id: str | None, email: str | None) -> str:
        for kind, value in (("id", pid), ("anonymousId", anonymous_id), ("userId", user_id), ("email", email)):
            if value:
                found = await data.resolve(pool(), kind, value)
                if found is None:
                    raise problem(404, f"no profile for {kind} {value!r}")
                return found
        raise problem(400, "give a profile id, anonymousId, userId or email")

    @app.get("/v1/profiles", summary="Find a profile by anonymousId, userId or email")
    async def find_profile(
        who: Reader,
        anonymous_id: Annotated[str | None, Query(alias="anonymousId")] = None,
        user_id: Annotated[str | None, Query(alias="userId")] = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        pid = await _find(None, anonymous_id, user_id, email)
        c = await data.card(pool(), pid)
        if c is None:
            raise problem(404, "profile not found")
        return c

    @app.get("/v1/profiles/{pid}", summary="The profile card")
    async def get_profile(pid: str, who: Reader) -> dict[str, Any]:
        found = await _find(pid, None, None, None)
        c = await data.card(pool(), found)
        if c is None:
            raise problem(404, "profile not found")
        return c

    @app.get("/v1/profiles/{pid}/export", summary="Everything held about the person (audited)")
    async def export_profile(pid: str, who: Admin) -> dict[str, Any]:
        found = await _find(pid, None, None, None)
        doc = await data.export(pool(), found)
        if doc is None:
            raise problem(404, "profile not found")
        await data.audit(pool(), who.name, "export", found, {})
        return doc

    async def _erase(pid: str, who: tokens.Principal, via: str) -> dict[str, Any]:
        gone = await st.erase(pid, who.name, via)
        if gone is None:
            raise problem(404, "profile not found")
        return gone

    @app.delete("/v1/profiles/{pid}", summary="Erase a profile (right to be forgotten; audited)")
    async def erase_profile(pid: str, who: Admin) -> dict[str, Any]:
        return await _erase(await _find(pid, None, None, None), who, "id")

    @app.delete("/v1/profiles", summary="Erase the profile of an email (audited)")
    async def erase_by_email(email: str, who: Admin) -> dict[str, Any]:
        return await _erase(await _find(None, None, None, email), who, "email")

    @app.get("/v1/audit", summary="Who erased or exported what")
    async def audit_log(who: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        rows = await pool().fetch("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1", limit)
        return [
            {
                "at": r["at"].isoformat(),
                "actor": r["actor"],
                "action": r["action"],
                "subject": r["subject"],
                "detail": r["detail"],
            }
            for r in rows
        ]

    # ---- campaign insight -----------------------------------------------------------------

    @app.get("/v1/reports/campaigns", summary="Visitors, sessions, engagement, conversions and leads per campaign")
    async def campaigns(
        who: Reader,
        by: str = "campaign",
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, Any]:
        if by not in data.DIMENSIONS:
            raise problem(422, f"by: one of {sorted(data.DIMENSIONS)}")
        until = until or datetime.now(UTC).date()
        since = since or until - timedelta(days=30)
        if since > until:
            raise problem(422, "since is after until")
        t0 = time.perf_counter()
        rows = await data.campaign_report(pool(), by, since, until)
        return {
            "by": by,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "rows": rows,
            "tookMs": round((time.perf_counter() - t0) * 1000, 2),
        }

    # ---- definitions ----------------------------------------------------------------------

    @app.get("/v1/segments")
    async def list_segments(who: Reader) -> dict[str, Any]:
        d = await DefinitionStore(pool()).load()
        return {
            "segments": [
                {"id": s.id, "name": s.name, "description": s.description, "condition": s.condition} for s in d.segments
            ],
            "scoring": {
                "threshold": d.policy.threshold,
                "rules": [{"id": r.id, "points": r.points, "condition": r.condition} for r in d.plan],
                "qualifying": d.policy.qualifying_json(),
                "updateIntervalS": d.policy.update_interval_s,
            },
        }

    @app.put("/v1/segments/{sid}")
    async def put_segment(sid: str, body: dict[str, Any], who: Admin) -> dict[str, Any]:
        try:
            seg = parse_segment({**body, "id": sid}, "segment")
        except DefinitionError as e:
            raise problem(422, str(e)) from e
        result = await DefinitionStore(pool()).put_segment(seg)
        return {"segment": sid, "result": "created" if result == "created" else "updated"}

    @app.delete("/v1/segments/{sid}")
    async def delete_segment(sid: str, who: Admin) -> dict[str, str]:
        if not await DefinitionStore(pool()).delete_segment(sid):
            raise problem(404, f"no segment {sid!r}")
        return {"deleted": sid}

    @app.put("/v1/scoring", summary="Replace the scoring plan and lead policy")
    async def put_scoring(body: dict[str, Any], who: Admin) -> dict[str, str]:
        try:
            await changes.put_scoring(pool(), body)
        except changes.Invalid as e:
            raise problem(422, str(e)) from e
        await data.audit(pool(), who.name, "scoring.apply", "scoring", body)
        return {"scoring": "applied"}

    @app.get("/v1/rules")
    async def list_rules(who: Reader) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json", by_alias=True) for r in await RuleStore(st.plain).list_all()]

    @app.put("/v1/rules/{rid}")
    async def put_rule(rid: str, body: dict[str, Any], who: Admin) -> dict[str, str]:
        try:
            result = await changes.put_rule(st.plain, rid, body)
        except changes.Invalid as e:
            raise problem(422, str(e)) from e
        await data.audit(pool(), who.name, f"rule.{result}", rid, body)
        return {"rule": rid, "result": "applied"}

    @app.get("/v1/schemas", summary="The public topics' JSON Schemas and the AsyncAPI document (names)")
    async def list_schemas(who: Reader) -> dict[str, Any]:
        return {
            "schemas": [{"topic": t.value, "file": name} for t, (name, _) in sorted(schemas.PUBLIC_SCHEMAS.items())],
            "asyncapi": schemas.ASYNCAPI_FILE,
        }

    @app.get("/v1/schemas/{file}", summary="One topic's JSON Schema, or the AsyncAPI document (asyncapi.json)")
    async def get_schema(file: str, who: Reader) -> Response:
        if file == schemas.ASYNCAPI_FILE:
            return Response(schemas.render_asyncapi(), media_type="application/json")
        for topic, (name, _) in schemas.PUBLIC_SCHEMAS.items():
            if name == file:
                return Response(schemas.render(topic), media_type="application/schema+json")
        raise problem(404, f"no schema {file!r} (GET /v1/schemas lists them)")

    @app.get("/v1/sources/{name}/plan", summary="A source's tracking plan in force, with its version history")
    async def get_plan(name: str, who: Reader) -> dict[str, Any]:
        rows = await PlanStore(st.plain).versions(name)
        if not rows:
            raise problem(404, f"no tracking plan for {name!r}")
        newest = rows[-1]
        return {
            "source": name,
            "version": newest["version"],
            "plan": orjson.loads(newest["document"]),
            "versions": [{"version": r["version"], "createdAt": r["created_at"].isoformat()} for r in rows],
        }

    @app.put("/v1/sources/{name}/plan", summary="Apply a tracking plan (a new version when it changed)")
    async def put_plan(name: str, body: dict[str, Any], who: Admin) -> dict[str, Any]:
        if body.get("source", name) != name:
            raise problem(422, f"source: the plan is for {body.get('source')!r}, the path names {name!r}")
        try:
            _, version, changed = await PlanStore(st.plain).apply({**body, "source": name})
        except PlanError as e:
            raise problem(422, str(e)) from e
        return {"source": name, "version": version, "result": "applied" if changed else "unchanged"}

    @app.get("/v1/rejects", summary="What the stages refused (cdp.hits.rejected), newest window first")
    async def list_rejects(
        who: Admin,
        stage: Annotated[Literal["collector", "enricher", "segmenter", "syncer"] | None, Query()] = None,
        reason: Annotated[str | None, Query(max_length=64)] = None,
        source: Annotated[str | None, Query(max_length=128, description="a source id")] = None,
        hours: Annotated[float, Query(gt=0, le=24 * 7)] = 24,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        found = await rejects.read(
            st.common.kafka_access(),
            since=now - timedelta(hours=hours),
            until=now,
            filters=rejects.Filters(stage=stage, reason=reason, source_id=source),
            limit=limit,
        )
        return {
            "rejects": [
                {
                    "at": f.record.rejected_at.isoformat(),
                    "where": f.coordinates,
                    "stage": f.record.stage,
                    "reason": f.record.reason,
                    "sourceId": f.record.source_id,
                    "message": f.record.message,
                    "original": f.record.original_bytes().decode("utf-8", "replace"),
                }
                for f in found
            ],
            "counts": [
                {"stage": stage_, "reason": reason_, "count": n}
                for (stage_, reason_), n in sorted(rejects.summary(found).items())
            ],
        }

    @app.get("/v1/leads/failed", summary="Lead deliveries a destination refused for good, with its reason")
    async def failed_leads(
        who: Reader,
        destination: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await deliveries.failed(st.plain, destination, limit=limit)
        return {
            "failed": [
                {
                    "leadEventId": r["lead_event_id"],
                    "destination": r["destination"],
                    "profileId": r["profile_id"],
                    "email": r["payload"]["contact"].get("email"),
                    "version": r["version"],
                    "attempts": r["attempts"],
                    "error": r["last_error"],
                    "failedAt": r["updated_at"].isoformat(),
                }
                for r in rows
            ]
        }

    @app.post("/v1/leads/failed/retry", summary="Put failed deliveries back in their destination's queue (audited)")
    async def retry_failed_leads(body: RetryFailed, who: Admin) -> dict[str, Any]:
        queued = await deliveries.requeue_failed(
            st.plain, SyncerSettings().group_id, body.destination, body.lead_event_ids
        )
        await data.audit(
            pool(), who.name, "leads.retry", body.destination or "all", {"leads": body.lead_event_ids, "queued": queued}
        )
        return {"queued": queued}

    @app.delete("/v1/rules/{rid}")
    async def delete_rule(rid: str, who: Admin) -> dict[str, str]:
        if not await changes.delete_rule(st.plain, rid):
            raise problem(404, f"no rule {rid!r}")
        await data.audit(pool(), who.name, "rule.delete", rid, {})
        return {"deleted": rid}

    @app.get("/v1/sources")
    async def list_sources(who: Admin) -> list[dict[str, Any]]:
        return [
            {"id": s.id, "name": s.name, "writeKey": s.write_key, "origins": list(s.origins), "enabled": s.enabled}
            for s in await SourceStore(st.plain).list_all()
        ]

    @app.post("/v1/sources", status_code=201)
    async def add_source(body: dict[str, Any], who: Admin) -> dict[str, Any]:
        try:
            s = await SourceStore(st.plain).add(
                str(body.get("name") or ""),
                origins=list(body.get("origins") or []),
                internal_domains=list(body.get("internalDomains") or []),
            )
        except ValueError as e:
            raise problem(422, str(e)) from e
        return {"id": s.id, "name": s.name, "writeKey": s.write_key, "origins": list(s.origins)}

    @app.get("/v1/personalization/slots")
    async def list_slots(who: Reader) -> list[dict[str, Any]]:
        rows = await pool().fetch("SELECT id, rules, default_variant FROM personalization_slots ORDER BY id")
        return [{"id": r["id"], "rules": r["rules"], "default": r["default_variant"]} for r in rows]

    @app.put("/v1/personalization/slots/{slot_id}")
    async def put_slot(slot_id: str, body: dict[str, Any], who: Admin) -> dict[str, str]:
        try:
            await changes.put_slot(pool(), slot_id, body.get("rules"), body.get("default", "default"))
        except changes.Invalid as e:
            raise problem(422, str(e)) from e
        await data.audit(pool(), who.name, "slot.put", slot_id, body)
        await st.refresh()
        return {"slot": slot_id, "result": "applied"}

    @app.delete("/v1/personalization/slots/{slot_id}")
    async def delete_slot(slot_id: str, who: Admin) -> dict[str, str]:
        if not await changes.delete_slot(pool(), slot_id):
            raise problem(404, f"no slot {slot_id!r}")
        await data.audit(pool(), who.name, "slot.delete", slot_id, {})
        await st.refresh()
        return {"deleted": slot_id}

    # ---- personalization (browser, write key) ---------------------------------------------

    def _grant(origin: str | None, allowed: frozenset[str], resp: Response) -> Response:
        if origin and (origin in allowed or "*" in allowed):
            resp.headers["access-control-allow-origin"] = origin
            resp.headers["vary"] = "Origin"
        return resp

    @app.options("/v1/personalize", include_in_schema=False)
    async def personalize_preflight(request: Request) -> Response:
        """A preflight carries no key: any source's origin passes it; the request itself is
        then checked against its own source."""
        resp = Response(status_code=204)
        resp.headers["access-control-allow-methods"] = "GET, OPTIONS"
        resp.headers["access-control-allow-headers"] = "authorization, content-type"
        resp.headers["access-control-max-age"] = "600"
        return _grant(request.headers.get("origin"), st.origins, resp)

    @app.get(
        "/v1/personalize",
        summary="The content variant per slot for a visitor (source write key; from the source's origins)",
        responses={401: {"description": "Unknown write key"}, 403: {"description": "Origin not allowed"}, 429: {}},
    )
    async def personalize(
        request: Request,
        anonymous_id: Annotated[str, Query(alias="anonymousId", max_length=255)],
        write_key: Annotated[str | None, Query(alias="writeKey")] = None,
        slot: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        """Only the variants of the configured slots: nothing about the visitor (whether
        they are known, their segments, stage or traits) leaves with the answer. (Served by
        ``PersonalizeEdge`` in front of the routes; this route documents it and answers the same.)"""
        key = write_key or basic_user(request.headers.get("authorization", ""))
        client = request.client.host if request.client else None
        status, headers, body = await personalize_answer(
            st, anonymous_id, key, slot, request.headers.get("origin"), client
        )
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    # ---- pages ----------------------------------------------------------------------------

    web.mount(app)
    return app


__all__ = ["HTMLResponse", "create_app"]
