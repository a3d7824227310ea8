"""The ``cdp`` command. Core subcommands live here; services add theirs through the
``cdp.commands`` entry-point group (a callable taking the subparsers object)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from importlib.metadata import entry_points
from typing import Any

import orjson
from pydantic import ValidationError

from cdp_common import schemas
from cdp_common.kafka import ensure_topics, make_admin
from cdp_common.logs import configure_logging
from cdp_common.migrate import MigrationError, load_migrations, migrate
from cdp_common.pg import create_pool
from cdp_common.settings import CommonSettings, TopicSettings
from cdp_common.sources import SourceStore
from cdp_common.topics import topic_specs

Handler = Callable[[argparse.Namespace, CommonSettings], Coroutine[Any, Any, int]]


class CommandError(Exception):
    """An error the user can fix; printed without a traceback."""


async def cmd_migrate(args: argparse.Namespace, settings: CommonSettings) -> int:
    pool = await create_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn, load_migrations())
    except MigrationError as e:
        raise CommandError(str(e)) from e
    finally:
        await pool.close()
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "; up to date"))
    return 0


async def cmd_topics(args: argparse.Namespace, settings: CommonSettings) -> int:
    topic_settings = TopicSettings()
    specs = topic_specs(
        partitions=topic_settings.partitions,
        partition_overrides=topic_settings.partition_overrides,
        retention_hours=topic_settings.retention_hours,
        replication_factor=topic_settings.replication_factor,
        min_insync_replicas=topic_settings.min_insync_replicas,
    )
    admin = make_admin(settings)
    await admin.start()
    try:
        reports = await ensure_topics(admin, specs, verify_only=args.verify)
    finally:
        await admin.close()
    bad = 0
    for r in reports:
        print(f"{r.name:24} {r.partitions:>3} partitions  {r.action}")
        if args.verify and r.action != "ok":
            bad += 1
    return 1 if bad else 0


async def cmd_schemas(args: argparse.Namespace, settings: CommonSettings) -> int:
    if args.check:
        out_of_date = schemas.stale()
        for name in out_of_date:
            print(f"stale: {name}")
        return 1 if out_of_date else 0
    for path in schemas.write_all():
        print(f"wrote {path}")
    return 0


async def cmd_sources(args: argparse.Namespace, settings: CommonSettings) -> int:
    pool = await create_pool(settings, max_size=1)
    store = SourceStore(pool)
    try:
        if args.action == "add":
            try:
                if args.if_missing:
                    src, added = await store.ensure(
                        args.name, write_key=args.write_key, origins=args.origin, internal_domains=args.internal_domain
                    )
                else:
                    src, added = (
                        await store.add(
                            args.name,
                            write_key=args.write_key,
                            origins=args.origin,
                            internal_domains=args.internal_domain,
                        ),
                        True,
                    )
            except ValueError as e:
                raise CommandError(str(e)) from e
            print(f"{'added' if added else 'exists'} source {src.name} ({src.id})")
            print(f"write key: {src.write_key}")
        elif args.action == "list":
            for s in await store.list_all():
                origins = ",".join(s.origins) or "-"
                print(f"{s.name:20} {s.id:22} {s.write_key:34} origins={origins}")
        elif args.action == "rotate":
            try:
                src = await store.rotate(args.name)
            except LookupError as e:
                raise CommandError(str(e)) from e
            print(f"rotated source {src.name}; new write key: {src.write_key}")
            print("the old key stops working once collectors refresh their cache (within 10 s)")
    finally:
        await pool.close()
    return 0


async def _source_id(settings: CommonSettings, name_or_id: str) -> str:
    """A source's id from its id (``src_...``) or its name."""
    if name_or_id.startswith("src_"):
        return name_or_id
    pool = await create_pool(settings, max_size=1)
    try:
        found = await SourceStore(pool).get(name_or_id)
    finally:
        await pool.close()
    if found is None:
        raise CommandError(f"no source {name_or_id!r} (cdp sources list)")
    return found.id


async def cmd_rejects(args: argparse.Namespace, settings: CommonSettings) -> int:
    """``cdp rejects list|show|resend``: what the stages refused, and sending it again."""
    from datetime import UTC, datetime

    from cdp_common import rejects

    if args.action == "show":
        try:
            partition, offset = (int(x) for x in args.where.split(":"))
        except ValueError as e:
            raise CommandError("give PARTITION:OFFSET, as `cdp rejects list` prints them") from e
        try:
            r = await rejects.fetch_one(settings.kafka_access(), partition, offset)
        except LookupError as e:
            raise CommandError(str(e)) from e
        print(r.model_dump_json(by_alias=True, exclude={"original"}, indent=2))
        original = r.original_bytes()
        try:
            print(orjson.dumps(orjson.loads(original), option=orjson.OPT_INDENT_2).decode())
        except orjson.JSONDecodeError:
            print(original.decode("utf-8", "replace"))
        return 0

    now = datetime.now(UTC)
    try:
        since, until = rejects.parse_when(args.since, now), rejects.parse_when(args.until, now) if args.until else now
    except ValueError as e:
        raise CommandError(str(e)) from e
    source_id = await _source_id(settings, args.source) if args.source else None
    filters = rejects.Filters(stage=args.stage, reason=args.reason, source_id=source_id)
    found = await rejects.read(settings.kafka_access(), since=since, until=until, filters=filters, limit=args.limit)
    if args.action == "list":
        for f in found:
            r = f.record
            print(
                f"{r.rejected_at:%Y-%m-%d %H:%M:%S}  {f.coordinates:>9}  {r.stage:9} {r.reason:22} "
                f"{r.source_id or '-':22} {r.message[:100]}"
            )
        counts = ", ".join(f"{stage}/{reason} {n}" for (stage, reason), n in sorted(rejects.summary(found).items()))
        print(f"{len(found)} rejected record(s) from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}: {counts or '-'}")
        return 0

    ok, skipped = rejects.resendable(found)
    plan = ", ".join(f"{n} to {t}" for t, n in sorted(summary_topics(ok).items())) or "nothing"
    print(f"will send {plan} (the original bytes, the same messageIds: what was applied before is not counted twice)")
    for stage, n in sorted(skipped.items()):
        print(f"skipping {n} from the {stage}: its originals are not stage input records")
    if not ok:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("add --yes to send without asking")
        if input("send them? [y/N] ").strip().lower() not in ("y", "yes"):  # noqa: ASYNC250 (an interactive CLI)
            print("nothing sent")
            return 1
    sent = await rejects.resend(settings.kafka_access(), ok)
    print("sent " + ", ".join(f"{n} to {t}" for t, n in sorted(sent.items())))
    return 0


async def cmd_replay(args: argparse.Namespace, settings: CommonSettings) -> int:
    """``cdp replay``: a stage's input range processed again with the stage's current rules."""
    from datetime import UTC, datetime, timedelta

    from cdp_common import rejects, replay
    from cdp_common.settings import SegmenterSettings

    topic = replay.STAGE_INPUT[args.stage]
    now = datetime.now(UTC)
    if bool(args.offsets) == bool(args.since):
        raise CommandError("give either --since (and --until) or --offsets")
    try:
        if args.offsets:
            spans = await replay.clip(settings.kafka_access(), topic, replay.parse_offsets(args.offsets))
        else:
            since = rejects.parse_when(args.since, now)
            until = rejects.parse_when(args.until, now) if args.until else now
            if until <= since:
                raise CommandError("--until must be later than --since")
            spans = await replay.spans_for_times(settings.kafka_access(), topic, since, until)
    except ValueError as e:
        raise CommandError(str(e)) from e
    source_id = await _source_id(settings, args.source) if args.source else None
    window = SegmenterSettings().dedup_window_hours
    replay_id = replay.new_replay_id(now)
    if not spans:
        print(f"nothing to replay: {topic} holds no record in that range")
        return 0
    print(replay.plan_text(args.stage, topic, spans, replay_id, window))
    if source_id:
        print(f"only the records of source {args.source} ({source_id}) are put back")
    if args.dry_run:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("add --yes to replay without asking")
        if input("replay them? [y/N] ").strip().lower() not in ("y", "yes"):  # noqa: ASYNC250 (an interactive CLI)
            print("nothing replayed")
            return 1
    # an hour's margin: the segmenter prunes what is older than its window
    not_before = now - timedelta(hours=window) + timedelta(hours=1)
    done = await replay.copy(
        settings.kafka_access(), topic, spans, replay_id, source_id=source_id, not_before=not_before
    )
    parts = ", ".join(f"partition {p}: {n:,}" for p, n in sorted(done.by_partition.items())) or "-"
    print(f"replay {replay_id}: put back {done.sent:,} record(s) on {topic} ({parts})")
    for what, n in (
        ("of other sources", done.other_source),
        ("older than the dedup window", done.too_old),
        ("tombstones", done.tombstones),
    ):
        if n:
            print(f"skipped {n:,} {what}")
    print('follow it with the stage\'s metrics: cdp_segmenter_records_total{outcome="replayed"}')
    return 0


def summary_topics(found: Any) -> dict[str, int]:
    from cdp_common.rejects import STAGE_INPUT

    out: dict[str, int] = {}
    for f in found:
        t = STAGE_INPUT[f.record.stage]
        out[t] = out.get(t, 0) + 1
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="Customer Data Platform command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply pending Postgres migrations (idempotent)")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("topics", help="create or verify the Kafka topics (idempotent)")
    p.add_argument("--verify", action="store_true", help="only check; exit 1 when anything differs")
    p.set_defaults(handler=cmd_topics)

    p = sub.add_parser("schemas", help="write the public topics' JSON Schema files")
    p.add_argument("--check", action="store_true", help="exit 1 when the committed files are stale")
    p.set_defaults(handler=cmd_schemas)

    p = sub.add_parser("sources", help="manage sources (sites and apps) and their write keys")
    ssub = p.add_subparsers(dest="action", required=True)
    a = ssub.add_parser("add", help="add a source")
    a.add_argument("name")
    a.add_argument("--write-key", help="use this key instead of a random one (16+ characters)")
    a.add_argument("--origin", action="append", default=[], help="allowed browser origin (repeatable)")
    a.add_argument("--internal-domain", action="append", default=[], help="the site's own domain (repeatable)")
    a.add_argument("--if-missing", action="store_true", help="succeed without change when it exists")
    ssub.add_parser("list", help="list sources")
    r = ssub.add_parser("rotate", help="give a source a new write key")
    r.add_argument("name")
    p.set_defaults(handler=cmd_sources)

    p = sub.add_parser("rejects", help="what the stages refused (cdp.hits.rejected): list, show, resend")
    rsub = p.add_subparsers(dest="action", required=True)
    for name, what in (("list", "list rejected records"), ("resend", "send originals back to their stage's input")):
        r = rsub.add_parser(name, help=what)
        r.add_argument("--stage", choices=["collector", "enricher", "segmenter", "syncer"])
        r.add_argument("--reason", help="e.g. tracking_plan, invalid_record, malformed_json")
        r.add_argument("--source", help="a source's name or id")
        r.add_argument("--since", default="24h", help="30m, 2h, 7d (ago) or an ISO time (default 24h)")
        r.add_argument("--until", help="the same forms (default now)")
        r.add_argument("--limit", type=int, default=1000)
        if name == "resend":
            r.add_argument("--yes", action="store_true", help="send without asking")
    s_ = rsub.add_parser("show", help="one rejected record with its original payload")
    s_.add_argument("where", help="PARTITION:OFFSET, as list prints it")
    p.set_defaults(handler=cmd_rejects)

    p = sub.add_parser(
        "replay", help="process a time or offset range of a stage's input again, with the stage's current rules"
    )
    p.add_argument("--stage", required=True, choices=["enricher", "segmenter"], help="whose input to replay")
    p.add_argument("--since", help="30m, 2h, 7d (ago) or an ISO time")
    p.add_argument("--until", help="the same forms (default now)")
    p.add_argument("--offsets", action="append", default=[], help="PARTITION:FROM-TO, inclusive (repeatable)")
    p.add_argument("--source", help="only this source's records (a name or id)")
    p.add_argument("--dry-run", action="store_true", help="say what would be replayed, and stop")
    p.add_argument("--yes", action="store_true", help="replay without asking")
    p.set_defaults(handler=cmd_replay)

    for ep in entry_points(group="cdp.commands"):
        register: Callable[[Any], None] = ep.load()
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = CommonSettings()
    except ValidationError as e:
        print(f"cdp: invalid setting: {e}", file=sys.stderr)
        return 2
    configure_logging(env=settings.env, level=settings.log_level)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except ValidationError as e:
        print(f"cdp {args.command}: invalid input or setting: {e}", file=sys.stderr)
        return 2
    except CommandError as e:
        print(f"cdp {args.command}: {e}", file=sys.stderr)
        return 2
    except (OSError, ConnectionError) as e:
        logging.getLogger("cdp").debug("connection error", exc_info=True)
        print(f"cdp {args.command}: cannot reach a service: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    # through the importable module, not this __main__ copy: subcommands raise
    # cdp_common.cli.CommandError, which must be the class main() catches
    from cdp_common.cli import main as _main

    sys.exit(_main())
