"""``cdp leads failed|retry`` (lead deliveries), ``cdp destinations bootstrap`` and
``cdp sandbox-ma`` (a local marketing-automation server)."""

from __future__ import annotations

import argparse
from typing import Any

from cdp_common.settings import CommonSettings


async def cmd_leads(args: argparse.Namespace, settings: CommonSettings) -> int:
    from cdp_common import deliveries
    from cdp_common.pg import create_pool
    from cdp_common.settings import SyncerSettings

    owner = SyncerSettings().group_id
    if args.action == "replay":
        return await _replay(args, settings, owner)
    pool = await create_pool(settings, max_size=2)
    try:
        if args.action == "failed":
            rows = await deliveries.failed(pool, args.destination, args.lead or None)
            for r in rows:
                print(
                    f"{r['updated_at']:%Y-%m-%d %H:%M:%S}  {r['destination']:8} {r['lead_event_id']}  "
                    f"{r['payload']['contact']['email']}  attempts {r['attempts']}  {r['last_error']}"
                )
            print(f"{len(rows)} failed lead deliver{'y' if len(rows) == 1 else 'ies'}")
            return 0
        moved = await deliveries.requeue_failed(pool, owner, args.destination, args.lead or None)
    finally:
        await pool.close()
    if not moved:
        print("nothing to retry")
        return 0
    print(
        "queued again for the running syncer: "
        + ", ".join(f"{n} for {d}" for d, n in sorted(moved.items()))
        + " (follow them with cdp leads failed and cdp_syncer_queue_leads)"
    )
    return 0


async def _replay(args: argparse.Namespace, settings: CommonSettings, owner: str) -> int:
    """``cdp leads replay``: a time range of the lead topic sent again to one destination."""
    import sys
    from datetime import UTC, datetime

    from cdp_common import deliveries, rejects, replay
    from cdp_common.cli import CommandError
    from cdp_common.pg import create_pool
    from cdp_common.settings import SyncerSettings
    from cdp_syncer.processor import parse_lead

    topic = SyncerSettings().input_topic
    now = datetime.now(UTC)
    try:
        since = rejects.parse_when(args.since, now)
        until = rejects.parse_when(args.until, now) if args.until else now
    except ValueError as e:
        raise CommandError(str(e)) from e
    if until <= since:
        raise CommandError("--until must be later than --since")
    spans = await replay.spans_for_times(settings.kafka_access(), topic, since, until)
    newest: dict[str, tuple[dict[str, Any], float]] = {}
    async for rec in replay.read_spans(settings.kafka_access(), topic, spans):
        lead = parse_lead(rec.value) if rec.value is not None else "a tombstone"
        if isinstance(lead, str):
            continue
        cur = newest.get(lead["profileId"])
        if cur is None or lead["version"] > cur[0]["version"]:
            newest[lead["profileId"]] = (dict(lead), rec.timestamp / 1000)
    print(
        f"{topic} from {since:%Y-%m-%d %H:%M:%S} to {until:%Y-%m-%d %H:%M:%S}: "
        f"{sum(s.size for s in spans):,} record(s), {len(newest):,} person(s); the newest version of each goes "
        f"to {args.destination} again (never over a newer one it has)"
    )
    if args.dry_run or not newest:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("add --yes to replay without asking")
        if input("send them? [y/N] ").strip().lower() not in ("y", "yes"):  # noqa: ASYNC250 (an interactive CLI)
            print("nothing replayed")
            return 1
    replay_id = replay.new_replay_id(now)
    pool = await create_pool(settings, max_size=2)
    try:
        n = await deliveries.enqueue_replay(pool, owner, args.destination, list(newest.values()), replay_id)
    finally:
        await pool.close()
    print(f"replay {replay_id}: {n:,} lead(s) queued for {args.destination}")
    return 0


def register_leads(sub: Any) -> None:
    from cdp_common.settings import DESTINATIONS

    p = sub.add_parser("leads", help="lead deliveries (syncer)")
    rs = p.add_subparsers(dest="action", required=True)
    f = rs.add_parser("failed", help="list leads a destination refused for good, with its reason")
    f.add_argument("--destination")
    f.add_argument("--lead", action="append", help="a lead's eventId (repeatable)")
    r = rs.add_parser("retry", help="put failed leads back in their destination's queue (the syncer sends them)")
    r.add_argument("--destination")
    r.add_argument("--lead", action="append", help="only this lead's eventId (repeatable); default: all failed")
    p2 = rs.add_parser("replay", help="send a time range of leads to one destination again")
    p2.add_argument("--destination", required=True, choices=list(DESTINATIONS))
    p2.add_argument("--since", required=True, help="ISO time or a span back from now (2h, 30m, 1d)")
    p2.add_argument("--until", help="ISO time or a span back from now (default: now)")
    p2.add_argument("--dry-run", action="store_true", help="say what would be sent, send nothing")
    p2.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(handler=cmd_leads)


async def cmd_destinations(args: argparse.Namespace, settings: CommonSettings) -> int:
    """``cdp destinations bootstrap hubspot|mautic``: the custom properties (fields), created once."""
    from cdp_common.cli import CommandError
    from cdp_common.settings import SyncerSettings
    from cdp_syncer.destinations.base import BootstrapError
    from cdp_syncer.processor import MissingSetting, build_destinations

    try:
        [dest] = build_destinations(SyncerSettings(destinations=args.destination))
    except MissingSetting as e:
        raise CommandError(str(e)) from e
    try:
        done = await dest.bootstrap()  # type: ignore[attr-defined]
    except BootstrapError as e:
        raise CommandError(str(e)) from e
    finally:
        await dest.aclose()
    for spec in done.create:
        print(f"created {spec.name} ({spec.type}) in group {spec.group}")
    for c in done.conflicts:
        print(f"conflict: {c} (left as it is: map the field elsewhere or change it in {args.destination})")
    print(f"{len(done.create)} created, {len(done.existing)} already there, {len(done.conflicts)} in conflict")
    return 1 if done.conflicts else 0


def register_destinations(sub: Any) -> None:
    p = sub.add_parser("destinations", help="prepare a destination for the CDP's leads (syncer)")
    rs = p.add_subparsers(dest="action", required=True)
    b = rs.add_parser("bootstrap", help="create the custom properties the lead mapping needs (idempotent)")
    b.add_argument("destination", choices=["hubspot", "mautic"])
    p.set_defaults(handler=cmd_destinations)


async def cmd_sandbox(args: argparse.Namespace, settings: CommonSettings) -> int:
    import uvicorn

    from cdp_syncer.sandbox import State, create_app

    state = State(
        token=args.hubspot_token, user=args.mautic_user, password=args.mautic_password, secret=args.webhook_secret
    )
    config = uvicorn.Config(create_app(state), host=args.host, port=args.port, log_level="warning", access_log=False)
    print(f"sandbox marketing automation on http://{args.host}:{args.port} (HubSpot, Mautic, webhook)")
    await uvicorn.Server(config).serve()
    return 0


def register_sandbox(sub: Any) -> None:
    from cdp_syncer.sandbox import DEFAULT_PASSWORD, DEFAULT_SECRET, DEFAULT_TOKEN, DEFAULT_USER

    p = sub.add_parser("sandbox-ma", help="a local HubSpot/Mautic/webhook server that stores what it gets")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8091)
    p.add_argument("--hubspot-token", default=DEFAULT_TOKEN)
    p.add_argument("--mautic-user", default=DEFAULT_USER)
    p.add_argument("--mautic-password", default=DEFAULT_PASSWORD)
    p.add_argument("--webhook-secret", default=DEFAULT_SECRET)
    p.set_defaults(handler=cmd_sandbox)


async def cmd_audiences(args: argparse.Namespace, settings: CommonSettings) -> int:
    """``cdp audiences add|list|remove|reconcile``: segments kept in step with lists at destinations."""
    from cdp_common import audiences as aud
    from cdp_common.cli import CommandError
    from cdp_common.pg import create_pool

    pool = await create_pool(settings, max_size=2)
    try:
        if args.action == "add":
            try:
                a = await aud.add(
                    pool,
                    args.segment,
                    args.destination,
                    name=args.name,
                    purpose=args.purpose,
                    reconcile_every_s=args.reconcile_every,
                )
            except aud.AudienceError as e:
                raise CommandError(str(e)) from e
            print(
                f"{a.id}: {a.segment_id} -> {a.destination} list {a.name!r}"
                + (f", only with {a.purpose} consent" if a.purpose else "")
            )
            print("its members are queued; the running syncer creates the list and fills it")
        elif args.action == "list":
            found = await aud.list_all(pool)
            for a, members, queued in found:
                print(
                    f"{a.id:40} list {a.name!r} ({a.external_id or 'not created yet'})  purpose {a.purpose or '-'}  "
                    f"{members} member(s), {queued} queued"
                )
            print(f"{len(found)} audience(s)")
        elif args.action == "remove":
            if not await aud.remove(pool, args.id):
                raise CommandError(f"no audience {args.id!r} (cdp audiences list)")
            print(f"{args.id}: no longer synced (the list at the destination is left as it is)")
        else:
            if not await aud.request_reconcile(pool, args.id):
                raise CommandError(f"no audience {args.id!r} (cdp audiences list)")
            print(f"{args.id}: the running syncer reconciles it on its next pass")
    finally:
        await pool.close()
    return 0


def register_audiences(sub: Any) -> None:
    from cdp_common.audiences import DESTINATIONS

    p = sub.add_parser("audiences", help="sync segments to HubSpot lists, Mautic segments, webhooks (syncer)")
    rs = p.add_subparsers(dest="action", required=True)
    a = rs.add_parser("add", help="keep a segment in step with a list at a destination")
    a.add_argument("--segment", required=True)
    a.add_argument("--destination", required=True, choices=list(DESTINATIONS))
    a.add_argument("--name", help="the list's name there (default: 'CDP: <segment>')")
    a.add_argument("--purpose", help="only people who allow this consent purpose (e.g. ads)")
    a.add_argument("--reconcile-every", type=float, default=3600.0, help="seconds between reconciliations")
    rs.add_parser("list", help="audiences with their members and queue")
    r = rs.add_parser("remove", help="stop syncing an audience")
    r.add_argument("id")
    c = rs.add_parser("reconcile", help="compare the list at the destination with the segment and repair it")
    c.add_argument("id")
    p.set_defaults(handler=cmd_audiences)
