"""The email adapter against a real SMTP server (aiosmtpd) started by the tests:
plain, STARTTLS with login, implicit TLS, and the server's error replies."""

from __future__ import annotations

import email
import email.policy
import hashlib
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from socialsched_email import EmailAdapter

from socialsched.adapters import (
    CannotCheck,
    CredentialsRejected,
    Message,
    PermanentError,
    TransientError,
)
from socialsched.adapters.registry import available_adapters
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media import Media

HOST = "127.0.0.1"
USER, PASSWORD = "mailer", "s3cret-pass-phrase"
ENV = {"SOCIALSCHED_SECRET_SMTP_USER": USER, "SOCIALSCHED_SECRET_SMTP_PASSWORD": PASSWORD}


class Recorder:
    """An aiosmtpd handler that keeps envelopes and can refuse recipients."""

    def __init__(self) -> None:
        self.envelopes: list[object] = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: let aiosmtpd send the 535 reply itself.
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
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return context


def start(controller: Controller) -> Iterator[Controller]:
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[Controller]:
    yield from start(Controller(Recorder(), hostname=HOST, port=free_port()))


@pytest.fixture
def starttls_server(server_context) -> Iterator[Controller]:
    controller = Controller(
        Recorder(),
        hostname=HOST,
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    yield from start(controller)


@pytest.fixture
def ssl_server(server_context) -> Iterator[Controller]:
    controller = Controller(
        Recorder(),
        hostname=HOST,
        port=free_port(),
        ssl_context=server_context,
        server_hostname=HOST,
        authenticator=authenticator,
        auth_required=True,
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS from
        # the first byte.
        auth_require_tls=False,
    )
    yield from start(controller)


def channel(port: int, security: str = "none", secrets=None, **settings: object) -> Channel:
    return Channel(
        name="newsletter",
        adapter="email",
        audiences={"fr": "list:news-fr@lists.example.org"},
        secrets=secrets or {},
        settings={
            "host": HOST,
            "port": port,
            "security": security,
            "from": "Boulangerie <news@bakery.example.com>",
            **settings,
        },
    )


def login_adapter(server: Controller, ca_file: Path, environ=ENV) -> EmailAdapter:
    """An adapter logging in over STARTTLS to `server` with the credentials in `environ`."""
    secrets = {"username": "SMTP_USER", "password": "SMTP_PASSWORD"}
    return EmailAdapter(
        channel(server.port, "starttls", secrets=secrets, ca_file=str(ca_file)), environ=environ
    )


def message(
    text: str = "Nouveautés de janvier\n\nGalette <b>& café</b>\nhttps://bakery.example.com/jan",
) -> Message:
    return Message(
        delivery_id="4f2a9c0d1e",
        post="january-news",
        segment="fr",
        channel="newsletter",
        locale="fr-FR",
        text=text,
        utc=datetime(2027, 1, 4, 8, 0, tzinfo=UTC),
        local=datetime(2027, 1, 4, 9, 0, tzinfo=UTC),
        audience=Audience("list", "news-fr@lists.example.org"),
    )


def received(controller: Controller) -> email.message.EmailMessage:
    envelope = controller.handler.envelopes[-1]
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def test_registered_under_its_entry_point():
    assert available_adapters()["email"] is EmailAdapter


def test_sends_one_multipart_message_to_the_list_address(plain_server):
    adapter = EmailAdapter(channel(plain_server.port))
    receipt = adapter.publish(message(), "key-1")

    envelope = plain_server.handler.envelopes[-1]
    assert envelope.mail_from == "news@bakery.example.com"
    assert envelope.rcpt_tos == ["news-fr@lists.example.org"]
    mail = received(plain_server)
    assert mail["Subject"] == "Nouveautés de janvier"
    assert mail["To"] == "news-fr@lists.example.org"
    assert mail["Message-ID"] == "<4f2a9c0d1e.socialsched@bakery.example.com>"
    assert mail["Content-Language"] == "fr-FR"
    assert mail["X-Socialsched-Delivery"] == "4f2a9c0d1e"
    # The planned instant, so a resend is the same message: Mon, 04 Jan 2027 08:00 UTC.
    assert mail["Date"].datetime == datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    assert mail.get_content_type() == "multipart/alternative"
    text_part = mail.get_body(preferencelist=("plain",))
    html_part = mail.get_body(preferencelist=("html",))
    assert text_part.get_content().replace("\r\n", "\n").rstrip("\n") == message().text
    html = html_part.get_content()
    assert "<p>Nouveautés de janvier</p>" in html
    assert "Galette &lt;b&gt;&amp; café&lt;/b&gt;<br>" in html
    assert '<a href="https://bakery.example.com/jan">https://bakery.example.com/jan</a>' in html
    assert '<html lang="fr-FR">' in html
    assert receipt.remote_id == "<4f2a9c0d1e.socialsched@bakery.example.com>"


def test_a_resend_carries_the_same_message_id(plain_server):
    EmailAdapter(channel(plain_server.port)).publish(message(), "key-1")
    EmailAdapter(channel(plain_server.port)).publish(message(), "key-1")
    ids = [
        email.message_from_bytes(e.content, policy=email.policy.default)["Message-ID"]
        for e in plain_server.handler.envelopes
    ]
    assert ids == ["<4f2a9c0d1e.socialsched@bakery.example.com>"] * 2


def test_same_key_is_sent_once_by_one_adapter(plain_server):
    adapter = EmailAdapter(channel(plain_server.port))
    adapter.publish(message(), "k")
    adapter.publish(message(), "k")
    assert len(plain_server.handler.envelopes) == 1


def test_subject_setting_and_custom_html_template(plain_server, tmp_path):
    template = tmp_path / "mail.html"
    template.write_text(
        "<div>{{ subject }}|{% for p in paragraphs %}[{{ p|join(' ') }}]{% endfor %}</div>"
    )
    adapter = EmailAdapter(
        channel(
            plain_server.port, subject="{post} ({segment}, {date})", html_template=str(template)
        )
    )
    adapter.publish(message("a <x>\nb\n\nc"), "k")
    mail = received(plain_server)
    assert mail["Subject"] == "january-news (fr, 2027-01-04)"
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert html.strip() == "<div>january-news (fr, 2027-01-04)|[a &lt;x&gt; b][c]</div>"


def test_starttls_with_login(starttls_server, ca_file):
    adapter = login_adapter(starttls_server, ca_file)
    adapter.publish(message(), "k")
    assert received(starttls_server)["Message-ID"] == "<4f2a9c0d1e.socialsched@bakery.example.com>"


def test_wrong_password_is_permanent_and_not_shown(starttls_server, ca_file):
    adapter = login_adapter(
        starttls_server,
        ca_file,
        {
            "SOCIALSCHED_SECRET_SMTP_USER": USER,
            "SOCIALSCHED_SECRET_SMTP_PASSWORD": "wrong-guess-123",
        },
    )
    with pytest.raises(PermanentError, match="login refused") as caught:
        adapter.publish(message(), "k")
    assert "wrong-guess-123" not in str(caught.value)
    assert starttls_server.handler.envelopes == []


def test_untrusted_certificate_is_permanent(starttls_server):
    adapter = EmailAdapter(channel(starttls_server.port, "starttls"), environ=ENV)
    with pytest.raises(PermanentError, match="ca_file"):
        adapter.publish(message(), "k")


def test_starttls_not_offered_is_permanent(plain_server):
    adapter = EmailAdapter(channel(plain_server.port, "starttls"))
    with pytest.raises(PermanentError, match="does not offer STARTTLS"):
        adapter.publish(message(), "k")
    assert plain_server.handler.envelopes == []


def test_credentials_are_never_sent_without_tls(plain_server):
    adapter = EmailAdapter(
        channel(plain_server.port, secrets={"username": "SMTP_USER", "password": "SMTP_PASSWORD"}),
        environ=ENV,
    )
    with pytest.raises(PermanentError, match="without TLS"):
        adapter.publish(message(), "k")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_login(ssl_server, ca_file):
    adapter = EmailAdapter(
        channel(
            ssl_server.port,
            "ssl",
            secrets={"username": "SMTP_USER", "password": "SMTP_PASSWORD"},
            ca_file=str(ca_file),
        ),
        environ=ENV,
    )
    adapter.publish(message(), "k")
    assert received(ssl_server)["To"] == "news-fr@lists.example.org"


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 try again later", TransientError), ("550 5.1.1 no such list", PermanentError)],
)
def test_recipient_refusals_map_4xx_transient_5xx_permanent(plain_server, reply, error):
    plain_server.handler.rcpt_reply = reply
    with pytest.raises(error, match=reply.split()[0]):
        EmailAdapter(channel(plain_server.port)).publish(message(), "k")


def test_no_server_listening_is_transient():
    with pytest.raises(TransientError):
        EmailAdapter(channel(free_port(), timeout=5)).publish(message(), "k")


def test_validate_requires_a_list_or_recipient_address_audience(plain_server):
    adapter = EmailAdapter(channel(plain_server.port))
    assert adapter.validate(message()) == []
    one_person = Audience("recipient", "ana@example.org")
    assert adapter.validate(attrs.evolve(message(), audience=one_person)) == []
    assert adapter.validate(attrs.evolve(message(), audience=None)) == [
        "the audience must name the address to send to: list:ADDRESS (a mailing list) "
        "or recipient:ADDRESS (one person)"
    ]
    assert adapter.validate(attrs.evolve(message(), audience=Audience("list", "news-fr"))) == [
        "audience list:news-fr: 'news-fr' is not an email address"
    ]
    assert adapter.validate(attrs.evolve(message(), audience=Audience("group", "g1"))) == [
        "email cannot target a 'group' audience (supports: list, recipient)"
    ]


def test_a_recipient_audience_sends_to_that_one_person(plain_server):
    one_person = attrs.evolve(message(), audience=Audience("recipient", "ana@example.org"))
    receipt = EmailAdapter(channel(plain_server.port)).publish(one_person, "k-ana")
    envelope = plain_server.handler.envelopes[-1]
    assert envelope.rcpt_tos == ["ana@example.org"]
    assert received(plain_server)["To"] == "ana@example.org"
    assert receipt.extra["to"] == ["ana@example.org"]


def test_publishing_without_an_address_is_permanent(plain_server):
    adapter = EmailAdapter(channel(plain_server.port))
    with pytest.raises(PermanentError, match="list:ADDRESS"):
        adapter.publish(attrs.evolve(message(), audience=None), "k")
    with pytest.raises(PermanentError, match="'news-fr' is not an email address"):
        adapter.publish(attrs.evolve(message(), audience=Audience("list", "news-fr")), "k")
    assert plain_server.handler.envelopes == []


def test_missing_settings_are_refused_at_construction():
    with pytest.raises(PermanentError, match=r"settings\.host and settings\.from"):
        EmailAdapter(Channel(name="n", adapter="email", settings={"host": HOST}))
    with pytest.raises(PermanentError, match=r"settings\.security"):
        EmailAdapter(channel(25, "tls"))
    with pytest.raises(PermanentError, match=r"settings\.html_template"):
        EmailAdapter(channel(25, html_template="/nonexistent/dir/mail.html"))


def test_unrenderable_subject_or_html_template_is_a_plan_time_problem(tmp_path):
    problems = EmailAdapter(channel(25, subject="{campaign}")).validate(message())
    assert problems == ["the HTML template or subject cannot be rendered: 'campaign'"]
    template = tmp_path / "mail.html"
    template.write_text("<p>{{ footer }}</p>")
    problems = EmailAdapter(channel(25, html_template=str(template))).validate(message())
    assert problems == ["the HTML template or subject cannot be rendered: 'footer' is undefined"]


def test_linkify_escapes_urls_and_leaves_trailing_punctuation_outside():
    from socialsched_email.compose import linkify

    html = str(linkify("Voir https://x.example/?a=1&b=<2>. Merci <3"))
    assert html == (
        'Voir <a href="https://x.example/?a=1&amp;b=">https://x.example/?a=1&amp;b=</a>'
        "&lt;2&gt;. Merci &lt;3"
    )


def png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


CLIP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x03" * 500


def test_images_go_inline_in_the_html_part_and_a_video_is_attached(plain_server):
    banner, menu = png(60, 20, (200, 30, 30)), png(10, 10, (30, 30, 200))
    images = (
        Media.from_bytes(banner, alt='Bannière "soldes"', filename="banniere.png"),
        Media.from_bytes(menu, alt="Menu", filename="menu.png"),
    )
    clip = Media.from_bytes(CLIP, alt="Visite", filename="visite.mp4")
    EmailAdapter(channel(plain_server.port)).publish(
        attrs.evolve(message(), attachments=(*images, clip)), "k"
    )
    mail = received(plain_server)

    # mixed [ alternative [ plain, related [ html, png, png ] ], mp4 ]
    assert mail.get_content_type() == "multipart/mixed"
    alternative, video = mail.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *image_parts = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    html = html_part.get_content()
    for part, data, name, alt in zip(
        image_parts,
        (banner, menu),
        ("banniere.png", "menu.png"),
        ("Bannière &#34;soldes&#34;", "Menu"),
        strict=True,
    ):
        assert part.get_content_type() == "image/png"
        assert part.get_content_disposition() == "inline"
        assert part.get_filename() == name
        assert hashlib.sha256(part.get_content()).hexdigest() == hashlib.sha256(data).hexdigest()
        cid = part["Content-ID"].strip("<>")
        assert f'<img src="cid:{cid}" alt="{alt}"' in html
    assert 'width="60" height="20"' in html
    assert video.get_content_type() == "video/mp4"
    assert video.get_content_disposition() == "attachment"
    assert video.get_filename() == "visite.mp4"
    assert video.get_content() == CLIP
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == message().text


def test_images_only_keep_the_message_multipart_alternative(plain_server):
    image = Media.from_bytes(png(4, 4, (1, 1, 1)), alt="x", filename="x.png")
    EmailAdapter(channel(plain_server.port)).publish(
        attrs.evolve(message(), attachments=(image,)), "k"
    )
    mail = received(plain_server)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Content-Language"] == "fr-FR"
    assert [p.get_content_type() for p in mail.get_payload()] == [
        "text/plain",
        "multipart/related",
    ]


def test_a_resend_with_images_uses_the_same_content_ids(plain_server):
    image = Media.from_bytes(png(4, 4, (9, 9, 9)), alt="x", filename="x.png")
    with_image = attrs.evolve(message(), attachments=(image,))
    EmailAdapter(channel(plain_server.port)).publish(with_image, "k")
    EmailAdapter(channel(plain_server.port)).publish(with_image, "k")
    cids = [
        email.message_from_bytes(e.content, policy=email.policy.default)
        .get_body(preferencelist=("related",))
        .get_payload()[1]["Content-ID"]
        for e in plain_server.handler.envelopes
    ]
    assert cids[0] == cids[1] == f"<image1.{image.digest[:16]}@bakery.example.com>"


def test_unreadable_media_fail_before_connecting(plain_server):
    unreadable = attrs.evolve(Media.from_bytes(png(4, 4, (1, 2, 3))), reader=None)
    with pytest.raises(PermanentError, match="no content"):
        EmailAdapter(channel(plain_server.port)).publish(
            attrs.evolve(message(), attachments=(unreadable,)), "k"
        )
    assert plain_server.handler.envelopes == []


def test_webp_and_oversized_images_are_refused_at_plan_time(plain_server):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "WEBP")
    webp = Media.from_bytes(buffer.getvalue(), filename="a.webp")
    big = attrs.evolve(Media.from_bytes(png(4, 4, (0, 0, 0)), filename="big.png"), size=1_000_001)
    problems = EmailAdapter(channel(plain_server.port)).validate(
        attrs.evolve(message(), attachments=(webp, big))
    )
    assert problems == [
        "a.webp: email does not take image/webp (takes image/jpeg, image/png, image/gif)",
        "big.png: 1000001 bytes; email takes at most 1000000 bytes per image",
    ]


def test_verify_logs_in_and_quits_without_sending(starttls_server, ca_file):
    adapter = login_adapter(starttls_server, ca_file)
    assert adapter.verify() == f"smtp {HOST}:{starttls_server.port}: login accepted"
    assert starttls_server.handler.envelopes == []


def test_verify_with_a_wrong_password_is_credentials_rejected(starttls_server, ca_file):
    adapter = login_adapter(
        starttls_server,
        ca_file,
        {"SOCIALSCHED_SECRET_SMTP_USER": USER, "SOCIALSCHED_SECRET_SMTP_PASSWORD": "not-it-0000"},
    )
    with pytest.raises(CredentialsRejected, match="login refused") as caught:
        adapter.verify()
    assert "not-it-0000" not in str(caught.value)


def test_verify_without_credentials_connects_and_says_so(plain_server):
    assert EmailAdapter(channel(plain_server.port)).verify() == (
        f"smtp {HOST}:{plain_server.port}: connected (no login configured)"
    )


def test_verify_of_a_server_that_is_down_is_transient():
    with pytest.raises(TransientError):
        EmailAdapter(channel(free_port(), timeout=5)).verify()


def test_find_cannot_check_an_smtp_server():
    with pytest.raises(CannotCheck):
        EmailAdapter(channel(25)).find(message(), "k")
