"""``cdp rules ...``: manage campaign-to-profile rules."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cdp_common.pg import create_pool
from cdp_common.settings import CommonSettings
from cdp_enricher.store import RuleStore, parse_rule_file


def _explain(e: ValidationError) -> str:
    lines = []
    for err in e.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        lines.append(f"  {loc}: {err['msg']}")
    return "invalid rules file:\n" + "\n".join(lines)


async def cmd_rules(args: argparse.Namespace, settings: CommonSettings) -> int:
    from cdp_common.cli import CommandError

    if args.action == "apply":
        try:
            data = yaml.safe_load(Path(args.file).read_text())  # noqa: ASYNC240 (a CLI reading one small file)
            rules = parse_rule_file(data)
        except (OSError, yaml.YAMLError) as e:
            raise CommandError(f"cannot read {args.file}: {e}") from e
        except ValidationError as e:
            raise CommandError(_explain(e)) from e
    pool = await create_pool(settings, max_size=1)
    store = RuleStore(pool)
    try:
        if args.action == "apply":
            report = await store.apply(rules, prune=args.prune)
            for what, ids in report.items():
                if ids:
                    print(f"{what:9} {', '.join(ids)}")
            print("running enrichers pick the rules up within 10 s")
        elif args.action == "list":
            for r in await store.list_all():
                when = ", ".join(f"{k}={_show(v)}" for k, v in r.when.items())
                traits = ", ".join(f"{k}={v}" for k, v in r.set_.items())
                flag = "" if r.enabled else " (disabled)"
                print(f"{r.id}{flag}: when {when} -> {traits}")
        elif args.action == "delete":
            if not await store.delete(args.id):
                raise CommandError(f"no rule {args.id!r}")
            print(f"deleted {args.id}")
    finally:
        await pool.close()
    return 0


def _show(v: Any) -> str:
    return f"/{v.regex}/" if hasattr(v, "regex") else str(v)


def register(sub: Any) -> None:
    p = sub.add_parser("rules", help="campaign-to-profile rules (enricher)")
    rs = p.add_subparsers(dest="action", required=True)
    a = rs.add_parser("apply", help="create or update the rules in a YAML file")
    a.add_argument("-f", "--file", required=True)
    a.add_argument("--prune", action="store_true", help="delete rules that are not in the file")
    rs.add_parser("list", help="list rules in the order they apply")
    d = rs.add_parser("delete", help="delete one rule")
    d.add_argument("id")
    p.set_defaults(handler=cmd_rules)
