"""docker-compose.yml cannot run here (no Docker engine), so it is kept honest by parsing it:
its services, ports and CDP_* variables must match the code's settings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from pydantic_settings import BaseSettings

from cdp_common import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _pyproject(package: Path) -> str:
    path = package / "pyproject.toml"
    return path.read_text() if path.exists() else ""


def _known_env_vars() -> set[str]:
    names: set[str] = set()
    for obj in vars(settings_module).values():
        if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj is not BaseSettings:
            prefix = obj.model_config.get("env_prefix", "")
            names |= {f"{prefix}{field}".upper() for field in obj.model_fields}
    return names


def test_infrastructure_services_are_declared_with_their_ports() -> None:
    services = _compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "9092:9092" in services["kafka"]["ports"]
    assert "5432:5432" in services["postgres"]["ports"]
    assert "6379:6379" in services["redis"]["ports"]


def test_every_cdp_variable_is_a_real_setting() -> None:
    known = _known_env_vars()
    assert "CDP_KAFKA_BOOTSTRAP" in known
    for name, svc in _compose()["services"].items():
        env = svc.get("environment") or {}
        unknown = {k for k in env if k.startswith("CDP_")} - known
        assert not unknown, f"service {name} sets unknown settings {unknown}"


def test_every_built_service_exists_and_every_service_is_in_compose() -> None:
    services = _compose()["services"]
    built = {s["build"]["args"]["SERVICE"] for s in services.values() if "build" in s}
    on_disk = (
        # a service that can run (it declares a console script) must be in compose
        {p.name for p in (ROOT / "services").iterdir() if "[project.scripts]" in _pyproject(p)}
        if (ROOT / "services").exists()
        else set()
    )
    assert built <= on_disk, f"compose builds services that do not exist: {built - on_disk}"
    assert on_disk <= set(services), f"services missing from compose: {on_disk - set(services)}"
    for name in on_disk:
        port_var = f"CDP_{name.upper()}_PORT"
        env = services[name].get("environment") or {}
        if port_var in env:
            assert f"{env[port_var]}:{env[port_var]}" in services[name]["ports"]


COMPOSE_GO = "github.com/compose-spec/compose-go/v2@v2.10.0"  # Docker Compose's own loader


def test_the_file_is_valid_against_the_compose_specification() -> None:
    """What `docker compose config` checks first, without a Docker engine: the Compose
    Specification's JSON schema (from compose-go, the loader docker compose uses), and a
    misspelt key is caught by it."""
    found = subprocess.run(
        ["go", "mod", "download", "-json", COMPOSE_GO],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
        cwd=ROOT,
    )
    schema = json.loads((Path(json.loads(found.stdout)["Dir"]) / "schema/compose-spec.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    compose = _compose()
    assert [str(e) for e in validator.iter_errors(compose)] == []
    typo = {**compose, "services": {**compose["services"], "kafka": {**compose["services"]["kafka"], "imagee": "x"}}}
    assert any("imagee" in str(e) for e in validator.iter_errors(typo))
