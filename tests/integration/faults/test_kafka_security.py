"""The platform on a secured Kafka, as the Helm chart sets one up with Strimzi
(kafka.auth.type scram-sha-512, kafka.tls.enabled): clients connect over SASL_SSL to
brokers whose certificate a private CA signed, each service as its own SCRAM user, and the
broker enforces ACLs: exactly those of the chart's KafkaUser resources, rendered by helm.

Every Kafka client the CDP has is on that path: the collector's and segmenter's librdkafka,
the enricher on aiokafka, the syncer under faust, the console (rejects view, erasures), and
the operators' `cdp rejects list` as the chart's ops user. A lead travels to every
destination, refusals are listed, an erasure reaches HubSpot; and a user without a grant is
refused by the broker (the ACLs are really enforced)."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.chaos.platform import WRITE_KEY, Platform
from tests.chaos.traffic import CHROME
from tests.e2e.conftest import until
from tests.helpers import ROOT, ServiceProcess, free_port, python_module
from tests.integration.faults.infra import ADMIN, PrivateKafka

pytestmark = pytest.mark.integration

HELM = ROOT / ".data/helm-tools/bin/helm"
DESTINATIONS = ("hubspot", "mautic", "webhook")


def chart_users() -> dict[str, dict[str, Any]]:
    """The chart's KafkaUser resources (the self-contained values: SCRAM over TLS), by the
    component each belongs to."""
    assert HELM.exists(), "helm is built by `make test` (deploy/helm/check.sh tools)"
    out = subprocess.run(
        [
            str(HELM),
            "template",
            "cdp",
            str(ROOT / "deploy/helm/cdp"),
            "-f",
            str(ROOT / "deploy/helm/values-self-contained.yaml"),
            "--show-only",
            "templates/kafka-users.yaml",
            "--kube-version",
            "1.34.3",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    users = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "KafkaUser"]
    return {u["metadata"]["labels"]["app.kubernetes.io/component"]: u for u in users}


def grant(kafka: PrivateKafka, users: dict[str, dict[str, Any]]) -> int:
    """Each KafkaUser's ACLs on the broker, granted by the admin (what Strimzi's user
    operator does with them)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    from cdp_common.settings import CommonSettings

    admin_env = kafka.client_env(ADMIN)
    access = CommonSettings(**{k.removeprefix("CDP_").lower(): v for k, v in admin_env.items()}).kafka_access()
    admin = AdminClient(access.librdkafka())
    bindings = []
    for user in users.values():
        principal = f"User:{user['metadata']['name']}"
        for acl in user["spec"]["authorization"]["acls"]:
            r = acl["resource"]
            for op in acl["operations"]:
                bindings.append(
                    AclBinding(
                        ResourceType[r["type"].upper()],
                        r["name"],
                        ResourcePatternType.PREFIXED if r["patternType"] == "prefix" else ResourcePatternType.LITERAL,
                        principal,
                        "*",
                        AclOperation[re.sub(r"(?<!^)([A-Z])", r"_\1", op).upper()],
                        AclPermissionType.ALLOW,
                    )
                )
    assert len(set(bindings)) == len(bindings), "the chart grants something twice"
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
    return len(bindings)


@pytest.fixture(scope="module")
def secured() -> Iterator[tuple[Platform, dict[str, str], PrivateKafka]]:
    users = chart_users()
    assert set(users) == {"collector", "console", "enricher", "segmenter", "syncer", "ops"}, sorted(users)
    names = {component: u["metadata"]["name"] for component, u in users.items()}
    kafka = PrivateKafka(users={name: secrets.token_hex(12) for name in names.values()})
    service_env = {component: kafka.client_env(name) for component, name in names.items()}
    # one client library per service, so every one of them goes through SASL_SSL and the ACLs
    service_env["enricher"] |= {"CDP_KAFKA_CLIENT": "aiokafka"}
    service_env["syncer"] |= {"CDP_SYNC_RUNNER": "faust"}
    service_env["cdp"] = kafka.client_env(ADMIN)  # creates the topics (the chart: KafkaTopics)
    platform = Platform(kafka=kafka, service_env=service_env)
    try:
        platform.up(kafka_ready=lambda k: grant(k, users))
        yield platform, names, kafka
    finally:
        platform.down()


async def _post(url: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10, headers={"user-agent": CHROME}) as http:
        r = await http.post(f"{url}{path}", auth=(WRITE_KEY, ""), json=body)
        assert r.status_code == 200, r.text


def _cdp_as(platform: Platform, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args],
        env={**platform.env, **env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.timeout(600)
async def test_every_service_works_as_its_own_user_with_only_the_charts_acls(
    secured: tuple[Platform, dict[str, str], PrivateKafka],
) -> None:
    platform, _names, _kafka = secured
    email = "scram.lead@example.org"
    await _post(
        platform.collector_url,
        "/v1/batch",
        {
            "batch": [
                {
                    "type": "track",
                    "anonymousId": "secured-1",
                    "event": "Form Submitted",
                    "properties": {"form": "contact", "values": {"email": email}},
                },
                {"type": "identify", "anonymousId": "secured-1", "traits": {"email": email}},
            ]
        },
    )

    # collector (librdkafka) -> enricher (aiokafka) -> segmenter (librdkafka) -> syncer (faust)
    async def everywhere() -> bool:
        return all(email in platform.sandbox(f"contacts/{d}") for d in DESTINATIONS)

    await until(everywhere, within=120, every=0.5)

    # refusals written by the collector and the segmenter as their users, listed by an operator
    async with httpx.AsyncClient(timeout=10, headers={"user-agent": CHROME}) as http:
        r = await http.get(
            f"{platform.collector_url}/pixel/v1/track", params={"writeKey": WRITE_KEY, "anonymousId": "x"}
        )
        assert r.status_code == 200
    await _post(platform.collector_url, "/v1/track", {"anonymousId": "anonymous", "event": "Signed Up"})

    async def listed() -> str | None:
        run = await asyncio.to_thread(
            _cdp_as, platform, platform.service_env["ops"], "rejects", "list", "--since", "10m"
        )
        assert run.returncode == 0, run.stdout + run.stderr
        last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
        return last if "collector/" in last and "segmenter/no_usable_id" in last else None

    await until(listed, within=60, every=1)

    # the console as its user: the rejects view reads cdp.hits.rejected; an erasure is
    # announced on cdp.privacy.erasures, which the syncer carries to HubSpot
    port = free_port()
    console = ServiceProcess(
        "console",
        python_module("cdp_console.main"),
        {**platform.env, **platform.service_env["console"], "CDP_CONSOLE_PORT": str(port)},
    )
    try:
        console.wait_http(f"http://127.0.0.1:{port}/readyz")
        made = _cdp_as(platform, {}, "tokens", "create", "--name", "secured-admin", "--scope", "admin")
        assert made.returncode == 0, made.stderr
        auth = {"authorization": f"Bearer {made.stdout.strip()}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as http:
            seen = (await http.get("/v1/rejects", params={"hours": 1})).json()
            assert {c["stage"] for c in seen["counts"]} >= {"collector", "segmenter"}, seen
        # its pages: every stage's lag on the overview, the live events from cdp.hits.enriched
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as ui:
            signed = await ui.post("/ui/login", data={"token": made.stdout.strip()})
            assert signed.status_code == 303, signed.text
            overview = (await ui.get("/ui")).text
            assert 'id="pipeline"' in overview and "unknown" not in overview, overview
            assert "Form Submitted" in (await ui.get("/ui/events", params={"live": 0})).text
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as http:
            r = await http.delete("/v1/profiles", params={"email": email})
            assert r.status_code == 200, r.text

        async def forgotten() -> bool:
            return email not in platform.sandbox("contacts/hubspot")

        await until(forgotten, within=90, every=0.5)
    finally:
        console.stop()

    # the ACLs are enforced: the collector's user may not read what the segmenter reads
    denied = _cdp_as(
        platform,
        platform.service_env["collector"],
        "rejects",
        "list",
        "--since",
        "10m",
    )
    assert denied.returncode != 0
    assert "authoriz" in (denied.stdout + denied.stderr).lower(), denied.stdout[-2000:] + denied.stderr[-2000:]
