"""``cdp segments ...``: manage segments, the scoring plan and the lead policy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from cdp_common.definitions.segments import DefinitionError, parse_file
from cdp_common.definitions.store import open_definitions
from cdp_common.settings import CommonSettings


async def cmd_segments(args: argparse.Namespace, settings: CommonSettings) -> int:
    from cdp_common.cli import CommandError

    if args.action == "apply":
        try:
            doc = yaml.safe_load(Path(args.file).read_text())  # noqa: ASYNC240 (a CLI reading one small file)
            segments, plan, policy = parse_file(doc)
        except (OSError, yaml.YAMLError) as e:
            raise CommandError(f"cannot read {args.file}: {e}") from e
        except DefinitionError as e:
            raise CommandError(f"invalid definitions file: {e}") from e
    pool, defs_store = await open_definitions(settings)
    try:
        if args.action == "apply":
            report = await defs_store.apply(segments, plan, policy, prune=args.prune)
            for what, names in report.items():
                if names:
                    print(f"{what:9} {', '.join(names)}")
            print("running segmenters pick the definitions up within 10 s and re-evaluate existing profiles")
        elif args.action == "list":
            defs = await defs_store.load()
            for s in defs.segments:
                print(f"segment {s.id} ({s.name}): {json.dumps(s.condition)}")
            p = defs.policy
            print(f"scoring: MQL threshold {p.threshold:g}; lead updates at most every {p.update_interval_s:g} s")
            for qid, cond in p.qualifying:
                print(f"  qualifies when known and {qid}: {json.dumps(cond)}")
            for r in defs.plan:
                print(f"  {r.points:+g} {r.id}: {json.dumps(r.condition)}")
        elif args.action == "delete":
            if not await defs_store.delete_segment(args.id):
                raise CommandError(f"no segment {args.id!r}")
            print(f"deleted segment {args.id}")
    finally:
        await pool.close()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("segments", help="segments, scoring plan and lead policy (segmenter)")
    rs = p.add_subparsers(dest="action", required=True)
    a = rs.add_parser("apply", help="create or update the definitions in a YAML file")
    a.add_argument("-f", "--file", required=True)
    a.add_argument("--prune", action="store_true", help="delete segments that are not in the file")
    rs.add_parser("list", help="list segments and the scoring plan")
    d = rs.add_parser("delete", help="delete one segment")
    d.add_argument("id")
    p.set_defaults(handler=cmd_segments)
