"""How the Kafka settings become each client's options, and which combinations are refused."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from cdp_common.kafka_access import KafkaAccess, check
from cdp_common.settings import CommonSettings
from cdp_common.stream.faust_adapter import faust_credentials

SCRAM = {
    "kafka_bootstrap": "k1:9093,k2:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "cdp-segmenter",
    "kafka_sasl_password": "s3cret",
}


def test_a_plain_cluster_needs_nothing_but_its_bootstrap() -> None:
    access = CommonSettings(kafka_bootstrap="k:9092", _env_file=None).kafka_access()
    assert access.librdkafka() == {"bootstrap.servers": "k:9092", "security.protocol": "PLAINTEXT"}
    assert access.aiokafka() == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}
    assert faust_credentials(access) is None


def test_scram_over_tls_in_each_clients_words() -> None:
    access = CommonSettings(**SCRAM, _env_file=None).kafka_access()
    rd = access.librdkafka()
    assert rd["security.protocol"] == "SASL_SSL" and rd["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (rd["sasl.username"], rd["sasl.password"]) == ("cdp-segmenter", "s3cret")
    assert rd["ssl.endpoint.identification.algorithm"] == "https"  # the broker's name is checked
    aio = access.aiokafka()
    assert aio["security_protocol"] == "SASL_SSL" and aio["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (aio["sasl_plain_username"], aio["sasl_plain_password"]) == ("cdp-segmenter", "s3cret")
    assert isinstance(aio["ssl_context"], ssl.SSLContext) and aio["ssl_context"].check_hostname
    creds = faust_credentials(access)
    assert creds is not None and creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret" not in repr(access)  # the password never reaches a log line


def test_sasl_without_tls_on_a_private_network() -> None:
    access = CommonSettings(**(SCRAM | {"kafka_security_protocol": "SASL_PLAINTEXT"}), _env_file=None).kafka_access()
    assert "ssl.endpoint.identification.algorithm" not in access.librdkafka()
    assert "ssl_context" not in access.aiokafka()
    creds = faust_credentials(access)
    assert creds is not None and creds.protocol.value == "SASL_PLAINTEXT"


def test_mutual_tls_passes_the_client_certificate() -> None:
    access = KafkaAccess("k:9093", "SSL", ca_file="/ca.crt", cert_file="/c.crt", key_file="/c.key")
    rd = access.librdkafka()
    assert (rd["ssl.ca.location"], rd["ssl.certificate.location"], rd["ssl.key.location"]) == (
        "/ca.crt",
        "/c.crt",
        "/c.key",
    )
    assert "sasl.mechanism" not in rd


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "CDP_KAFKA_SASL_MECHANISM"),
        (SCRAM | {"kafka_sasl_password": None}, "CDP_KAFKA_SASL_USERNAME and CDP_KAFKA_SASL_PASSWORD"),
        (SCRAM | {"kafka_security_protocol": "PLAINTEXT"}, "would be ignored"),
        ({"kafka_ssl_cafile": "/ca.crt"}, "use SSL or SASL_SSL"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/c.crt"}, "CDP_KAFKA_SSL_KEYFILE"),
    ],
)
def test_an_incomplete_or_contradictory_setting_is_refused_at_start(settings: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        CommonSettings(**settings, _env_file=None)


def test_check_names_every_problem_at_once() -> None:
    problems = check(KafkaAccess(" ", "SASL_SSL", cert_file="/c.crt"))
    assert len(problems) == 4, problems


def test_aiokafka_over_tls_runs_on_the_standard_loop() -> None:
    """uvloop's TLS close waits out 30 s when a response is still coming (uvloop#471)."""
    tls = CommonSettings(**SCRAM, _env_file=None).kafka_access()
    plain = CommonSettings(_env_file=None).kafka_access()
    assert tls.event_loop(aiokafka=True) == "asyncio"
    assert tls.event_loop(aiokafka=False) == "uvloop"  # librdkafka does its own I/O
    assert plain.event_loop(aiokafka=True) == "uvloop"
