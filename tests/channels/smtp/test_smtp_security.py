"""Who may send to the gateway's SMTP port: STARTTLS, SMTP AUTH for clients outside the
trusted networks (here none is trusted, so loopback must authenticate), and the
per-address message rate. A real gateway process, smtplib as the client, a certificate
made by openssl for the test."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.smtp.test_smtp_gateway import ALARM, CITIZEN, crlf, mail, reports
from tests.peers.gateway import GatewayProcess, sample_with_smtp, smtp_gateway

USER = "fax-relay"
SECRET = "7hB9x-long-random-relay-secret-Qm2"
RATE = 3


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("smtp-tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=alarm.example.cn", "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    extra = (
        f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
        "trusted_networks = []\n"
        f'[channels.smtp.auth]\nusers = {{ {USER} = "sha256:{digest}" }}\n'
        f"[channels.smtp.rate_limit]\nmessages = {RATE}\nseconds = 60\n"
    )
    g = smtp_gateway(tmp, extra)
    g.start()
    yield g
    assert g.stop() == 0, g.log()


def client(gw: GatewayProcess) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20)
    s.ehlo("relay.example.com")
    return s


def tls(s: smtplib.SMTP) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own certificate
    s.starttls(context=context)
    s.ehlo("relay.example.com")


def test_mail_without_auth_is_530(gw: GatewayProcess) -> None:
    with client(gw) as s:
        assert s.has_extn("starttls")
        code, said = s.mail(CITIZEN)
        assert code == 530, said


def test_auth_before_starttls_is_refused(gw: GatewayProcess) -> None:
    """The password never crosses the wire in clear."""
    with client(gw) as s:
        code, said = s.docmd("AUTH", "PLAIN AGZheC1yZWxheQBzZWNyZXQ=")
        assert code in (530, 538), said


def test_a_wrong_password_is_535(gw: GatewayProcess) -> None:
    with client(gw) as s:
        tls(s)
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(USER, "not the secret")
        assert e.value.smtp_code == 535


def test_an_authenticated_relay_over_tls_is_250_then_the_rate_limit_451(gw: GatewayProcess) -> None:
    with client(gw) as s:
        tls(s)
        s.login(USER, SECRET)
        for i in range(RATE):
            raw = crlf(mail(f"第{i}封", message_id=f"<tls-{i}@example.com>"))
            assert s.sendmail(CITIZEN, [ALARM], raw) == {}
        code, said = s.mail(CITIZEN)
        assert code == 451 and b"Too many messages" in said, said
    assert len(reports(gw, "mail:tls-0@example.com")) == 1
    assert reports(gw, "mail:tls-0@example.com")[0]["extra"]["mail"]["user"] == USER


def test_the_config_refuses_auth_in_clear(tmp_path: Path) -> None:
    from gateway.config import ConfigError, load_config

    text = sample_with_smtp(
        2525, '[channels.smtp.auth]\nusers = { a = "sha256:' + "0" * 64 + '" }\n'
    )
    path = tmp_path / "city.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "channels.smtp.auth: AUTH without TLS sends passwords in clear" in str(e.value)
