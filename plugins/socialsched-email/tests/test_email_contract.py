"""The email adapter passes socialsched's conformance kit against a real SMTP server
(aiosmtpd) with STARTTLS and login, so the kit also checks the password never shows."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from socialsched_email import EmailAdapter

from socialsched.adapters import Adapter
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, Arrived, key_in_text

HOST = "127.0.0.1"
USER, PASSWORD = "contract-mailer", "contract-pass-7f3e9a"
LIST = "news-contract@lists.example.org"


class Mailbox:
    """An aiosmtpd handler keeping each accepted message; `fail_next` makes the next
    recipient be refused once, with 451 (try later) or 550 (no such list)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse_next: str | None = None
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply, self.refuse_next = self.refuse_next, None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def published(self) -> list[str]:
        keys = []
        for message in self.messages:
            text = message.get_body(preferencelist=("plain",)).get_content()
            keys.append(key_in_text(text) or "")
        return keys

    def attachments(self, key: str) -> list[Arrived]:
        """The images shown in the HTML part (alt text from their <img> tag), then the
        attached files (no alt text in mail)."""
        [mail] = [
            m
            for m in self.messages
            if key_in_text(m.get_body(preferencelist=("plain",)).get_content()) == key
        ]
        html = mail.get_body(preferencelist=("html",)).get_content()
        arrived = []
        for part in mail.walk():
            if part.get_content_disposition() == "inline" and part.get_content_maintype() in (
                "image",
                "video",
            ):
                cid = part["Content-ID"].strip("<>")
                alt = re.search(rf'<img src="cid:{re.escape(cid)}" alt="([^"]*)"', html)
                assert alt is not None, f"the HTML part does not show {cid}"
                arrived.append(Arrived.of(part.get_content(), unescape(alt[1])))
        arrived += [Arrived.of(part.get_content()) for part in mail.iter_attachments()]
        return arrived

    def fail_next(self, kind: str) -> bool:
        self.refuse_next = (
            "451 4.3.0 try again later" if kind == "transient" else "550 5.1.1 no such list"
        )
        return True


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


class TestEmailContract(AdapterContract):
    adapter_class = EmailAdapter

    def make_audience(self, adapter: Adapter) -> Audience:
        return Audience("list", LIST)

    @pytest.fixture
    def remote(self, ca: trustme.CA) -> Iterator[Mailbox]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(HOST).configure_cert(context)
        mailbox = Mailbox()
        controller = Controller(
            mailbox,
            hostname=HOST,
            port=free_port(),
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
        )
        controller.start()
        mailbox.port = controller.port
        try:
            yield mailbox
        finally:
            controller.stop()

    @pytest.fixture
    def channel(self, remote: Mailbox, ca_file: Path) -> Channel:
        return Channel(
            name="newsletter",
            adapter="email",
            audiences={"fr": f"list:{LIST}"},
            secrets={"username": "SMTP_USER", "password": "SMTP_PASSWORD"},
            settings={
                "host": HOST,
                "port": remote.port,
                "security": "starttls",
                "from": "Contract <news@bakery.example.com>",
                "ca_file": str(ca_file),
                "timeout": 10,
            },
        )

    @pytest.fixture
    def environ(self) -> dict[str, str]:
        return {"SOCIALSCHED_SECRET_SMTP_USER": USER, "SOCIALSCHED_SECRET_SMTP_PASSWORD": PASSWORD}
