"""The Helm chart, rendered and schema-checked by deploy/helm/check.sh (helm lint and
template, kubeconform -strict against Kubernetes', KEDA's, Strimzi's, CloudNativePG's and
the Prometheus operator's schemas), and held to what the code says: topics, consumer
groups, settings, metrics and health endpoints."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from cdp_common import settings as settings_module
from cdp_common.metrics import M
from cdp_common.topics import topic_specs

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "deploy/helm/check.sh"
PROCESSORS: dict[str, Any] = {
    "enricher": settings_module.EnricherSettings(),
    "segmenter": settings_module.SegmenterSettings(),
    "syncer": settings_module.SyncerSettings(),
}


@pytest.fixture(scope="module")
def checked() -> str:
    """check.sh's whole run (tools are built by `make test` before pytest, so this is quick)."""
    run = subprocess.run(["bash", str(CHECK)], capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def _objects(values: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ROOT / f".data/helm/{values}.yaml").read_text()) if d]


@pytest.fixture(scope="module", params=["default", "self-contained"])
def rendered(request: pytest.FixtureRequest, checked: str) -> Iterator[dict[tuple[str, str], dict[str, Any]]]:
    yield {(o["kind"], o["metadata"]["name"]): o for o in _objects(request.param)}


def _containers(objs: dict[tuple[str, str], dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for (kind, name), o in objs.items():
        if kind in ("Deployment", "StatefulSet", "Job"):
            for c in o["spec"]["template"]["spec"]["containers"]:
                yield name, c


def test_every_object_passes_the_strict_schema_check(checked: str) -> None:
    summaries = re.findall(
        r"Summary: (\d+) resources? found .*? - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)", checked
    )
    assert len(summaries) == 2, checked
    for found, valid, invalid, errors, skipped in summaries:
        assert int(found) > 20 and found == valid and (invalid, errors, skipped) == ("0", "0", "0"), checked


def test_the_check_refuses_a_misspelt_field_in_every_kind(checked: str, tmp_path: Path) -> None:
    """The schemas are strict for real: one wrong field name, at the top or deep inside,
    makes each kind invalid (a lax schema would let a typo through to the cluster)."""
    docs = _objects("self-contained")
    wrong = []
    for doc in docs:
        top = json.loads(json.dumps(doc))
        top["spek"] = {}
        wrong.append(top)
    deep = {
        "Deployment": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicyy="Always"),
        "KafkaTopic": lambda d: d["spec"].update(partitionz=3),
        "Kafka": lambda d: d["spec"]["kafka"].update(listenerz=[]),
        "Cluster": lambda d: d["spec"].update(instancez=3),
        "ScaledObject": lambda d: d["spec"].update(maxReplicaCountt=3),
        "ServiceMonitor": lambda d: d["spec"]["endpoints"][0].update(portt="metrics"),
        "PrometheusRule": lambda d: d["spec"]["groups"][0]["rules"][0].update(exprr="up"),
    }
    for doc in docs:
        if doc["kind"] in deep:
            bad = json.loads(json.dumps(doc))
            deep[doc["kind"]](bad)
            wrong.append(bad)
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump_all(wrong))
    run = subprocess.run(
        [
            str(ROOT / ".data/helm-tools/bin/kubeconform"),
            "-strict",
            "-summary",
            "-schema-location",
            str(ROOT / ".data/helm/schemas") + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert f"Valid: 0, Invalid: {len(wrong)}, Errors: 0" in run.stdout, run.stdout[-3000:]


def test_each_processor_scales_on_its_own_group_lag_and_never_beyond_its_partitions(rendered) -> None:
    topics = {o["spec"]["topicName"]: o["spec"]["partitions"] for (k, _), o in rendered.items() if k == "KafkaTopic"}
    for name, settings in PROCESSORS.items():
        scaled = rendered[("ScaledObject", f"cdp-{name}")]
        assert scaled["spec"]["scaleTargetRef"]["name"] == f"cdp-{name}"
        (trigger,) = scaled["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert (meta["consumerGroup"], meta["topic"]) == (settings.group_id, settings.input_topic)
        tls = ("TriggerAuthentication", f"cdp-{name}-kafka") in rendered  # the self-contained values
        assert meta["bootstrapServers"] == f"cdp-kafka-bootstrap:{9093 if tls else 9092}"
        assert int(meta["lagThreshold"]) > int(meta["activationLagThreshold"]) > 0
        assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= topics[meta["topic"]]
        assert "replicas" not in rendered[("Deployment", f"cdp-{name}")]["spec"]  # the autoscaler's


def test_more_replicas_than_partitions_is_refused_when_rendering(checked: str) -> None:
    helm = ROOT / ".data/helm-tools/bin/helm"
    run = subprocess.run(
        [
            str(helm),
            "template",
            "cdp",
            str(ROOT / "deploy/helm/cdp"),
            "--kube-version",
            "1.34.3",
            "--set",
            "kafka.topics.partitionOverrides.cdp\\.hits\\.enriched=4",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "segmenter.keda.maxReplicas (12) is above the partitions of cdp.hits.enriched (4)" in run.stderr


def test_topics_are_the_ones_the_code_declares(rendered) -> None:
    got = {o["spec"]["topicName"]: o["spec"] for (k, _), o in rendered.items() if k == "KafkaTopic"}
    want = topic_specs(partitions=12)
    assert set(got) == {s.name for s in want}
    for spec in want:
        config = got[spec.name]["config"]
        assert got[spec.name]["partitions"] == 12 and got[spec.name]["replicas"] == 3
        assert {k: str(v) for k, v in config.items() if k != "min.insync.replicas"} == spec.configs(), spec.name
        assert config["min.insync.replicas"] == "2"


def test_every_variable_a_container_gets_is_a_real_setting(rendered) -> None:
    known = set()
    for obj in vars(settings_module).values():
        if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj is not BaseSettings:
            prefix = obj.model_config.get("env_prefix", "")
            known |= {f"{prefix}{field}".upper() for field in obj.model_fields}
    names = {e["name"] for _, c in _containers(rendered) for e in c.get("env", []) if e["name"].startswith("CDP_")}
    assert names and names <= known, names - known


def test_probes_use_the_health_endpoints_each_service_serves(rendered) -> None:
    for name, c in _containers(rendered):
        component = name.removeprefix("cdp-")
        if component in PROCESSORS:
            assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
            assert c["readinessProbe"]["httpGet"]["path"] == "/health"
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["CDP_METRICS_HOST"] == "0.0.0.0"  # else probes and Prometheus cannot reach it
        elif component in ("collector", "console"):
            assert (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]) == (
                "/healthz",
                "/readyz",
            )


def test_alerts_and_dashboard_only_name_metrics_the_services_export(rendered) -> None:
    exported = {m.value for m in M} | {m.value.removesuffix("_total") for m in M}
    exprs = [
        r["expr"]
        for (k, _), o in rendered.items()
        if k == "PrometheusRule"
        for g in o["spec"]["groups"]
        for r in g["rules"]
    ]
    dash = json.loads(rendered[("ConfigMap", "cdp-dashboard")]["data"]["cdp.json"])
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"\bcdp_[a-z_]+", e)}
    assert used and used <= exported, used - exported


def test_self_contained_wires_the_operators_resources_into_the_services() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in _objects("self-contained")}
    assert ("Kafka", "cdp") in objs and ("KafkaNodePool", "cdp-nodes") in objs and ("Cluster", "cdp-pg") in objs
    assert objs[("KafkaNodePool", "cdp-nodes")]["spec"]["roles"] == ["controller", "broker"]
    seg = objs[("Deployment", "cdp-segmenter")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in seg["env"]}
    assert env["CDP_PG_DSN"]["valueFrom"]["secretKeyRef"] == {"name": "cdp-pg-app", "key": "uri"}
    assert env["CDP_REDIS_URL"]["value"] == "redis://cdp-redis:6379/0"
    assert ("StatefulSet", "cdp-redis") in objs


def test_with_kafka_users_each_service_connects_as_its_own_user_with_only_its_topics() -> None:
    """values-self-contained.yaml: SCRAM-SHA-512 over TLS. Which ACLs are enough is proven by
    tests/integration/faults/test_kafka_security.py (the platform on a broker enforcing them)."""
    objs = {(o["kind"], o["metadata"]["name"]): o for o in _objects("self-contained")}
    kafka = objs[("Kafka", "cdp")]["spec"]["kafka"]
    assert kafka["listeners"] == [
        {"name": "tls", "port": 9093, "type": "internal", "tls": True, "authentication": {"type": "scram-sha-512"}}
    ]
    assert kafka["authorization"] == {"type": "simple"}
    known = {t.name for t in topic_specs(partitions=1)}
    for name in ("collector", "console", *PROCESSORS):
        user = objs[("KafkaUser", f"cdp-{name}")]
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "cdp"
        acls = user["spec"]["authorization"]["acls"]
        assert {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"} <= known
        groups = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "group" and "Read" in a["operations"]}
        assert groups == ({PROCESSORS[name].group_id} if name in PROCESSORS else set())
        if name == "console":  # reads every stage's lag for the overview
            described = {a["resource"]["name"] for a in acls if a["operations"] == ["Describe"]}
            assert {s.group_id for s in PROCESSORS.values()} <= described
        (container,) = objs[("Deployment", f"cdp-{name}")]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["CDP_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["CDP_KAFKA_SASL_USERNAME"]["value"] == f"cdp-{name}"
        assert env["CDP_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": f"cdp-{name}", "key": "password"}
        assert env["CDP_KAFKA_SSL_CAFILE"]["value"] == "/etc/cdp/kafka-ca/ca.crt"
        assert {"name": "kafka-ca", "mountPath": "/etc/cdp/kafka-ca", "readOnly": True} in container["volumeMounts"]
    ops = objs[("KafkaUser", "cdp-ops")]["spec"]["authorization"]["acls"]
    assert [a["resource"] for a in ops] == [{"type": "topic", "name": "cdp.", "patternType": "prefix"}]
    for name in PROCESSORS:  # KEDA reads the lag as the processor's user
        auth = objs[("TriggerAuthentication", f"cdp-{name}-kafka")]["spec"]
        assert {r["parameter"]: r["name"] for r in auth["secretTargetRef"]} == {
            "password": f"cdp-{name}",
            "ca": "cdp-cluster-ca-cert",
        }
        (trigger,) = objs[("ScaledObject", f"cdp-{name}")]["spec"]["triggers"]
        assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
    default = {(o["kind"], o["metadata"]["name"]) for o in _objects("default")}
    assert not any(kind in ("KafkaUser", "TriggerAuthentication") for kind, _ in default)
