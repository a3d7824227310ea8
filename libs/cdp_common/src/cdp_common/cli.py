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
