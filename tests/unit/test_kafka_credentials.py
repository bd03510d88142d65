"""The worker talks to Kafka with the protocol the settings name (SASL, TLS, both)."""

import ssl

from faust.auth import SASLCredentials, SSLCredentials

from streams.settings import KafkaConnection, WorkerSettings
from streams.worker.app import credentials


def settings(**kafka) -> WorkerSettings:
    return WorkerSettings(kafka=KafkaConnection(**kafka))


def test_plaintext_needs_no_credentials():
    assert credentials(settings()) is None


def test_tls_alone_verifies_the_brokers():
    got = credentials(settings(security_protocol="SSL"))
    assert isinstance(got, SSLCredentials)
    assert got.context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_over_tls_carries_both():
    got = credentials(
        settings(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="streamrec",
            sasl_password="s3cret",
        )
    )
    assert isinstance(got, SASLCredentials)
    assert got.username == "streamrec" and got.password == "s3cret"
    assert got.mechanism.value == "SCRAM-SHA-512" and got.ssl_context is not None


def test_sasl_in_plaintext_has_no_tls_context():
    got = credentials(
        settings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="u",
            sasl_password="p",
        )
    )
    assert isinstance(got, SASLCredentials) and got.ssl_context is None
