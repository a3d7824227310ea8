"""How to reach the Kafka cluster: its bootstrap servers and, on a secured cluster, TLS and
SASL credentials. One value (``KafkaAccess``) built once from the settings and handed to
every Kafka client the CDP makes, each of which reads it through its own translation here:
librdkafka's dotted properties, aiokafka's keyword arguments (also what faust passes on).

The forms a cluster run by an operator such as Strimzi offers, and the settings for each:
- plain listener: nothing but ``CDP_KAFKA_BOOTSTRAP``;
- TLS (server certificate from a private CA): ``CDP_KAFKA_SECURITY_PROTOCOL=SSL``,
  ``CDP_KAFKA_SSL_CAFILE=/path/ca.crt``; with client certificates (mutual TLS) also
  ``CDP_KAFKA_SSL_CERTFILE`` and ``CDP_KAFKA_SSL_KEYFILE`` (PEM);
- SCRAM users: ``CDP_KAFKA_SECURITY_PROTOCOL=SASL_SSL`` (or ``SASL_PLAINTEXT`` on a private
  network), ``CDP_KAFKA_SASL_MECHANISM=SCRAM-SHA-512``, ``CDP_KAFKA_SASL_USERNAME``,
  ``CDP_KAFKA_SASL_PASSWORD``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cdp_common.settings import CommonSettings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True, slots=True)
class KafkaAccess:
    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # checking the broker's name against its certificate; off only for a test CA whose
    # certificates name no host
    check_hostname: bool = True

    @classmethod
    def of(cls, settings: CommonSettings) -> KafkaAccess:
        """From ``CDP_KAFKA_*``; the settings refuse an incomplete combination (``check``)."""
        password = settings.kafka_sasl_password
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            ca_file=settings.kafka_ssl_cafile,
            cert_file=settings.kafka_ssl_certfile,
            key_file=settings.kafka_ssl_keyfile,
            check_hostname=settings.kafka_ssl_check_hostname,
        )

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def librdkafka(self) -> dict[str, Any]:
        """Properties for confluent-kafka's Producer, Consumer and AdminClient."""
        out: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "security.protocol": self.security_protocol}
        if self.sasl:
            out |= {
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.username": self.username,
                "sasl.password": self.password,
            }
        if self.tls:
            if self.ca_file:
                out["ssl.ca.location"] = self.ca_file
            if self.cert_file:
                out["ssl.certificate.location"] = self.cert_file
                out["ssl.key.location"] = self.key_file
            out["ssl.endpoint.identification.algorithm"] = "https" if self.check_hostname else "none"
        return out

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        out: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.sasl:
            out |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.tls:
            out["ssl_context"] = self.ssl_context()
        return out

    def event_loop(self, *, aiokafka: bool) -> Literal["uvloop", "asyncio"]:
        """The event loop for a process whose Kafka clients are aiokafka (``aiokafka``) or
        librdkafka: uvloop, except for aiokafka over TLS. uvloop's TLS transport stops
        reading when it starts to close, so closing a connection that still has a response
        coming (a consumer's fetch) waits out a 30 s shutdown timeout (MagicStack/uvloop#471,
        open): every short-lived reader (the console's rejects view) took 30 s now and then.
        The standard loop closes at once."""
        return "asyncio" if aiokafka and self.tls else "uvloop"

    def ssl_context(self) -> ssl.SSLContext:
        """The client side of TLS: the given CA (or the system's), the client certificate
        for mutual TLS if there is one."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        if not self.check_hostname:
            context.check_hostname = False
        return context


def check(access: KafkaAccess) -> list[str]:
    """What is missing or contradictory, in words an operator can act on."""
    problems = []
    if not access.bootstrap.strip():
        problems.append("no Kafka bootstrap servers (CDP_KAFKA_BOOTSTRAP)")
    if access.sasl:
        if not access.sasl_mechanism:
            problems.append(f"{access.security_protocol} needs CDP_KAFKA_SASL_MECHANISM (for example SCRAM-SHA-512)")
        if not access.username or not access.password:
            problems.append(f"{access.security_protocol} needs CDP_KAFKA_SASL_USERNAME and CDP_KAFKA_SASL_PASSWORD")
    elif access.sasl_mechanism or access.username:
        problems.append(
            f"SASL credentials are set but CDP_KAFKA_SECURITY_PROTOCOL is {access.security_protocol}: "
            "use SASL_SSL or SASL_PLAINTEXT, or they would be ignored"
        )
    if bool(access.cert_file) != bool(access.key_file):
        problems.append("a client certificate needs both CDP_KAFKA_SSL_CERTFILE and CDP_KAFKA_SSL_KEYFILE")
    if not access.tls and (access.ca_file or access.cert_file):
        problems.append(
            f"TLS files are set but CDP_KAFKA_SECURITY_PROTOCOL is {access.security_protocol}: use SSL or SASL_SSL"
        )
    return problems
