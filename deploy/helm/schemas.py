"""Strict JSON schemas for kubeconform, made offline from published API descriptions.

kubeconform normally downloads its schemas from GitHub, which these machines cannot reach.
This writes them instead, for every kind the rendered manifests use, from:
- Kubernetes' own OpenAPI document (``api/openapi-spec/swagger.json`` of the
  ``k8s.io/kubernetes`` module, from the Go module proxy), for built-in kinds;
- CustomResourceDefinitions (KEDA's and CloudNativePG's from their Go modules, Strimzi's
  generated from its API types on Maven Central), for operator kinds.
"Strict" as kubeconform's ``-strict`` means it: an object schema that lists its properties
allows no others, so a misspelt or misplaced field fails. Files are named as kubeconform's
``{{ .ResourceKind }}{{ .KindSuffix }}.json`` template expects (``deployment-apps-v1.json``).

    python deploy/helm/schemas.py --swagger swagger.json --crd a.yaml --crd b.yaml \
        --out DIR rendered.yaml [more.yaml ...]

Exits 1 naming any kind used in the manifests that no source describes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}


def kind_file(api_version: str, kind: str) -> str:
    """kubeconform's name for a kind's schema: ``{kind}-{first part of group}-{version}``."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0].lower()}-{version.lower()}" if group else f"-{version.lower()}"
    return f"{kind.lower()}{suffix}.json"


def strict(schema: Any) -> Any:
    """A copy of a schema where every object schema with listed properties refuses others,
    and the OpenAPI idioms JSON Schema lacks are spelled out (int-or-string, nullable).
    Walks schema positions only: a map of property names is not itself a schema."""
    if not isinstance(schema, dict):
        return schema
    if schema.get("x-kubernetes-int-or-string") is True or schema.get("format") == "int-or-string":
        return dict(INT_OR_STRING, description=schema.get("description", ""))
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = [strict(v) for v in value] if isinstance(value, list) else strict(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [strict(v) for v in value]
        else:
            out[key] = value
    open_ended = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and not open_ended:
        out["additionalProperties"] = False
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def from_swagger(swagger: dict[str, Any], wanted: set[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Schemas of the ``wanted`` (apiVersion, kind) pairs that Kubernetes defines itself."""
    defs = {name: strict(d) for name, d in swagger["definitions"].items()}
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = INT_OR_STRING
    defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = QUANTITY
    out = {}
    for name, d in swagger["definitions"].items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            if (api_version, gvk["kind"]) in wanted:
                # the kind's definition, and apiVersion and kind must be this kind's
                out[kind_file(api_version, gvk["kind"])] = {
                    "allOf": [
                        {"$ref": f"#/definitions/{name}"},
                        {"properties": {"apiVersion": {"enum": [api_version]}, "kind": {"enum": [gvk["kind"]]}}},
                        {"required": ["apiVersion", "kind", "metadata"]},
                    ],
                    "definitions": defs,
                }
    return out


def from_crds(crds: Iterable[dict[str, Any]], wanted: set[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Schemas of the ``wanted`` kinds that CustomResourceDefinitions define."""
    out = {}
    for crd in crds:
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        kind = spec["names"]["kind"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            if (api_version, kind) not in wanted:
                continue
            schema = strict(version["schema"]["openAPIV3Schema"])
            props = schema.setdefault("properties", {})
            props["apiVersion"] = {"enum": [api_version]}
            props["kind"] = {"enum": [kind]}
            props.setdefault("metadata", {"type": "object"})
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            out[kind_file(api_version, kind)] = schema
    return out


def used_kinds(manifests: Iterable[Path]) -> set[tuple[str, str]]:
    kinds = set()
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kinds.add((doc["apiVersion"], doc["kind"]))
    return kinds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--swagger", type=Path, required=True)
    ap.add_argument("--crd", type=Path, action="append", default=[])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("manifests", type=Path, nargs="+")
    args = ap.parse_args(argv)
    wanted = used_kinds(args.manifests)
    schemas = from_swagger(json.loads(args.swagger.read_text()), wanted)
    crds = [doc for path in args.crd for doc in yaml.safe_load_all(path.read_text())]
    schemas |= from_crds(crds, wanted)
    missing = sorted(f"{a} {k}" for a, k in wanted if kind_file(a, k) not in schemas)
    if missing:
        print("no schema for: " + ", ".join(missing), file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (args.out / name).write_text(json.dumps(schema))
    print(f"{len(schemas)} schema(s) for {len(wanted)} kind(s) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
