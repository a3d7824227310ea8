"""``cdp tokens create --name N --scope read|admin`` / ``cdp tokens revoke ID``."""

from __future__ import annotations

import argparse
from typing import Any

from cdp_common.pg import create_pool
from cdp_common.settings import CommonSettings
from cdp_console import tokens


async def cmd_tokens(args: argparse.Namespace, settings: CommonSettings) -> int:
    from cdp_common.cli import CommandError

    pool = await create_pool(settings, max_size=1)
    try:
        if args.action == "create":
            try:
                print(await tokens.create(pool, args.name, args.scope))
            except ValueError as e:
                raise CommandError(str(e)) from e
        else:
            if not await tokens.revoke(pool, args.id):
                raise CommandError(f"no token {args.id!r}")
            print(f"revoked {args.id}")
    finally:
        await pool.close()
    return 0


def register_tokens(sub: Any) -> None:
    p = sub.add_parser("tokens", help="console API tokens")
    rs = p.add_subparsers(dest="action", required=True)
    c = rs.add_parser("create", help="create a token and print it (shown once)")
    c.add_argument("--name", default="console")
    c.add_argument("--scope", choices=tokens.SCOPES, required=True)
    r = rs.add_parser("revoke", help="revoke a token by its id (the part after cdp_)")
    r.add_argument("id")
    p.set_defaults(handler=cmd_tokens)
