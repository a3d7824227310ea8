"""``cdp leads failed|retry`` (lead deliveries), ``cdp destinations bootstrap`` and
``cdp sandbox-ma`` (a local marketing-automation server)."""

from __future__ import annotations

import argparse
from typing import Any

from cdp_common.settings import CommonSettings


async def cmd_leads(args: argparse.Namespace, settings: CommonSettings) -> int:
    from cdp_common.settings import SyncerSettings
    from cdp_syncer import store
    from cdp_syncer.processor import SyncerProcessor

    if args.action == "failed":
        pool = await store.open_pool(settings, 2)
        try:
            rows = await store.failed(pool, args.destination)
        finally:
            await pool.close()
        for r in rows:
            print(
                f"{r['updated_at']:%Y-%m-%d %H:%M:%S}  {r['destination']:8} {r['lead_event_id']}  "
                f"{r['payload']['contact']['email']}  attempts {r['attempts']}  {r['last_error']}"
            )
        print(f"{len(rows)} failed lead deliver{'y' if len(rows) == 1 else 'ies'}")
        return 0
    from cdp_common.cli import CommandError
    from cdp_syncer.processor import MissingSetting

    sync = SyncerSettings()
    if args.destination:
        sync = sync.model_copy(update={"destinations": args.destination})
    try:
        service = SyncerProcessor(settings, sync)
    except MissingSetting as e:
        raise CommandError(str(e)) from e
    await service.start()
    try:
        counts = await service.retry_failed(args.destination)
    finally:
        await service.stop()
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to retry")
    return 0 if not counts.get("failed") else 1


def register_leads(sub: Any) -> None:
    p = sub.add_parser("leads", help="lead deliveries (syncer)")
    rs = p.add_subparsers(dest="action", required=True)
    f = rs.add_parser("failed", help="list leads a destination refused for good")
    f.add_argument("--destination")
    r = rs.add_parser("retry", help="send the failed leads again (with the current settings)")
    r.add_argument("--destination")
    p.set_defaults(handler=cmd_leads)


async def cmd_destinations(args: argparse.Namespace, settings: CommonSettings) -> int:
    """``cdp destinations bootstrap hubspot``: the portal's custom properties, created once."""
    from cdp_common.cli import CommandError
    from cdp_common.settings import SyncerSettings
    from cdp_syncer.destinations.hubspot import BootstrapError
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
        print(f"created {spec.name} ({spec.type}/{spec.field_type}) in group {spec.group}")
    for c in done.conflicts:
        print(f"conflict: {c} (left as it is: map the field elsewhere or change the property in HubSpot)")
    print(f"{len(done.create)} created, {len(done.existing)} already there, {len(done.conflicts)} in conflict")
    return 1 if done.conflicts else 0


def register_destinations(sub: Any) -> None:
    p = sub.add_parser("destinations", help="prepare a destination for the CDP's leads (syncer)")
    rs = p.add_subparsers(dest="action", required=True)
    b = rs.add_parser("bootstrap", help="create the custom properties the lead mapping needs (idempotent)")
    b.add_argument("destination", choices=["hubspot"])
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
