"""``cdp rules ...``: manage campaign-to-profile rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cdp_common.definitions.rule_store import RuleStore, parse_rule_file
from cdp_common.pg import create_pool
from cdp_common.settings import CommonSettings


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


async def cmd_plans(args: argparse.Namespace, settings: CommonSettings) -> int:
    """``cdp plans apply -f plan.yaml`` (a new version when it changed), ``list``, ``show``."""
    from cdp_common.cli import CommandError
    from cdp_common.definitions.plans import PlanError
    from cdp_common.definitions.rule_store import PlanStore

    doc: dict[str, Any] = {}
    if args.action == "apply":
        try:
            loaded = yaml.safe_load(Path(args.file).read_text())  # noqa: ASYNC240 (a CLI reading one small file)
        except (OSError, yaml.YAMLError) as e:
            raise CommandError(f"cannot read {args.file}: {e}") from e
        if not isinstance(loaded, dict):
            raise CommandError(f"invalid plan: {args.file} must hold a mapping (source, violations, events)")
        doc = loaded
    pool = await create_pool(settings, max_size=1)
    store = PlanStore(pool)
    try:
        if args.action == "apply":
            try:
                _, version, changed = await store.apply(doc)
            except PlanError as e:
                raise CommandError(f"invalid plan: {e}") from e
            state = "applied as" if changed else "unchanged at"
            print(f"plan for {doc['source']} {state} version {version}; running enrichers enforce it within 10 s")
        else:
            rows = await store.versions(getattr(args, "source", None))
            if args.action == "list":
                newest: dict[str, Any] = {}
                for r in rows:
                    newest[r["name"]] = r
                for name, r in sorted(newest.items()):
                    d = json.loads(r["document"])
                    print(
                        f"{name}: version {r['version']} ({r['created_at']:%Y-%m-%d %H:%M}), "
                        f"violations {d.get('violations', 'allow')}, {len(d.get('events') or {})} event(s)"
                    )
                if not newest:
                    print("no tracking plans")
            else:
                pick = [r for r in rows if args.version is None or r["version"] == args.version]
                if not pick:
                    raise CommandError(
                        f"no plan for {args.source!r}" + (f" version {args.version}" if args.version else "")
                    )
                print(yaml.safe_dump(json.loads(pick[-1]["document"]), sort_keys=False), end="")
    finally:
        await pool.close()
    return 0


def register_plans(sub: Any) -> None:
    p = sub.add_parser("plans", help="tracking plans per source (enforced by the enricher)")
    ps = p.add_subparsers(dest="action", required=True)
    a = ps.add_parser("apply", help="apply a plan file: a new version of its source's plan when it changed")
    a.add_argument("-f", "--file", required=True)
    ps.add_parser("list", help="the plan in force per source")
    s = ps.add_parser("show", help="a source's plan (the newest, or --version N)")
    s.add_argument("source")
    s.add_argument("--version", type=int)
    p.set_defaults(handler=cmd_plans)
