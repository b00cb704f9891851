"""The `email` adapter: one multipart message per segment to its list address, over SMTP."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from email.utils import parseaddr
from typing import Any

import jinja2

from socialsched.adapters import (
    Adapter,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    read_media,
)
from socialsched.calendar.model import Channel
from socialsched.media import Media, MediaLimits
from socialsched.trust.destinations import origin

from .compose import (
    compose,
    content_id,
    domain_of,
    html_environment,
    message_id,
    paragraphs,
    subject_for,
    valid_address,
)

ADDRESS_KINDS = ("list", "recipient")
"""Audience kinds whose id is the address to send to: a mailing list, or one person."""
NO_ADDRESS = (
    "the audience must name the address to send to: list:ADDRESS (a mailing list) "
    "or recipient:ADDRESS (one person)"
)
SECURITY_MODES = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 30.0
# Most mail providers refuse messages over 25 MB once base64-encoded (a third larger):
# at most 10 MB of images and 8 MB of video keep a message under it.
IMAGES = MediaLimits(
    max_count=10,
    max_bytes=1_000_000,
    # WebP does not show in several mail clients (Outlook among them).
    types=("image/jpeg", "image/png", "image/gif"),
)
VIDEOS = MediaLimits(max_count=1, max_bytes=8_000_000, types=("video/mp4",))


def _smtp_error(where: str, code: int, text: bytes | str) -> TransientError | PermanentError:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    detail = f"{where}: {code} {reply}".strip()
    # SMTP 4xx replies mean "try again later"; 5xx mean "this will not work".
    return TransientError(detail) if 400 <= code < 500 else PermanentError(detail)


class EmailAdapter(Adapter):
    """Sends each delivery as one email to the segment's list address over SMTP.

    A segment's audience is the address to send to: `list:news-fr@lists.example.org`
    for a mailing list, or `recipient:ana@example.org` for one person. Settings:
    `host` (required), `port` (default by `security`: 587, 465 or 25), `security`
    ("starttls" default, "ssl" for implicit TLS, "none" only for a local relay), `from`
    (required), `subject` (a format string with {post}, {segment}, {channel}, {locale},
    {date}; default: the text's first line), `html_template` (path of a Jinja template
    for the HTML part; default: the built-in one), `ca_file` (extra CA bundle for a
    relay with a private certificate), `message_id_domain` (default: the From domain),
    `timeout` (seconds, default 30). Secrets `username` and `password`, when declared,
    log in (only over TLS).

    Images are shown inline in the HTML part (`cid:` links with their alt text); a
    video is attached.
    """

    name = "email"
    capabilities = Capabilities(
        max_length=None,
        audiences=ADDRESS_KINDS,
        native_scheduling=False,
        delete=False,
        idempotent=False,
        images=IMAGES,
        videos=VIDEOS,
        mixed_media=True,
        engagement=(),  # SMTP hands a message over and hears nothing back
    )
    required_settings = ("host", "from")
    # Files the calendar names: resolved next to it and kept inside its folder.
    path_settings = ("html_template", "ca_file")
    doubt_guarantee = "cannot check (a resend has the same Message-ID)"

    @classmethod
    def destinations(
        cls, channel: Channel, environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The username and password go to the SMTP server: `smtp://host:port`
        (`smtps://` for implicit TLS), from settings `host`, `port` and `security`."""
        settings = channel.settings
        security = str(settings.get("security", "starttls"))
        scheme = "smtps" if security == "ssl" else "smtp"
        try:
            port = int(settings.get("port", SECURITY_MODES.get(security, 25)))
        except (TypeError, ValueError):
            raise PermanentError(
                f"channel {channel.name!r}: settings.port must be a number"
            ) from None
        host = str(settings.get("host") or "")
        if not host:
            raise PermanentError(
                f"channel {channel.name!r}: cannot tell where its secrets are sent: "
                "settings.host is not set"
            )
        where = origin(f"{scheme}://{host}:{port}")
        return dict.fromkeys(sorted(channel.secrets.values()), where)

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        where = f"channel {channel.name!r}"
        self.security = str(settings.get("security", "starttls"))
        if self.security not in SECURITY_MODES:
            raise PermanentError(
                f"{where}: settings.security must be one of "
                f"{', '.join(SECURITY_MODES)}, not {self.security!r}"
            )
        host = settings.get("host")
        sender = settings.get("from")
        if not host or not sender:
            raise PermanentError(
                f"{where}: the email adapter needs settings.host and settings.from"
            )
        self.host = str(host)
        self.sender = str(sender)
        if not valid_address(parseaddr(self.sender)[1]):
            raise PermanentError(f"{where}: settings.from {self.sender!r} is not an email address")
        self.port = int(settings.get("port", SECURITY_MODES[self.security]))
        self.subject = settings.get("subject")
        self.ca_file = settings.get("ca_file")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self.msgid_domain = str(settings.get("message_id_domain") or domain_of(self.sender))
        template = settings.get("html_template")
        try:
            self._html_env, self._html_name = html_environment(
                None if template is None else str(template)
            )
            self._html_env.get_template(self._html_name)
        except jinja2.TemplateError as error:
            raise PermanentError(f"{where}: settings.html_template: {error}") from None
        # SMTP has no idempotency key; keys sent by this instance are not sent again,
        # and the stable Message-ID lets receivers recognise a resend across runs.
        self._published: dict[str, Receipt] = {}

    @staticmethod
    def _recipients(audience: Any) -> list[str]:
        if getattr(audience, "kind", None) in ADDRESS_KINDS and audience.id:
            return [str(audience.id)]
        return []

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        audience = message.audience
        if audience is None:
            problems.append(NO_ADDRESS)
        problems.extend(
            f"audience {audience}: {address!r} is not an email address"
            for address in self._recipients(audience)
            if not valid_address(address)
        )
        try:
            self.render_html(message)
        except (jinja2.TemplateError, KeyError, ValueError) as error:
            problems.append(f"the HTML template or subject cannot be rendered: {error}")
        return problems

    def render_html(self, message: Message) -> str:
        """The HTML part for `message`, from the (autoescaping) HTML template; `images`
        lists the inline images (`cid`, `alt`, `width`, `height`) it shows."""
        template = self._html_env.get_template(self._html_name)
        images = [
            {"cid": cid, "alt": media.alt, "width": media.width, "height": media.height}
            for cid, media in self._inline_images(message)
        ]
        return template.render(
            text=message.text,
            paragraphs=paragraphs(message.text),
            subject=subject_for(message, self.subject),
            lang=message.locale,
            message=message,
            images=images,
        )

    def _inline_images(self, message: Message) -> list[tuple[str, Media]]:
        images = [media for media in message.attachments if media.kind == "image"]
        return [
            (content_id(media, number, self.msgid_domain), media)
            for number, media in enumerate(images, start=1)
        ]

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise PermanentError(
                    f"smtp {self.host}:{self.port} does not offer STARTTLS "
                    "(set security = 'ssl', or 'none' for a local relay)"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> bool:
        """Log in when the channel declares credentials; whether it did."""
        if "username" not in self.channel.secrets and "password" not in self.channel.secrets:
            return False
        if self.security == "none":
            raise PermanentError(
                f"channel {self.channel.name!r}: refusing to send SMTP credentials "
                "without TLS (security = 'none')"
            )
        username, password = self.secret("username"), self.secret("password")
        smtp.ehlo_or_helo_if_needed()
        mechanisms = smtp.esmtp_features.get("auth", "").upper().split()
        if "PLAIN" in mechanisms:
            # One attempt with one mechanism: `login()` would retry a refused password
            # with every other mechanism, which only brings account lockouts closer.
            smtp.user, smtp.password = username, password
            smtp.auth("PLAIN", smtp.auth_plain)
        else:
            smtp.login(username, password)
        return True

    @contextlib.contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        """A connected, logged-in SMTP session, closed with QUIT afterwards; SMTP and
        network failures mapped to socialsched's errors."""
        where = f"smtp {self.host}:{self.port}"
        try:
            smtp = self._connect()
            try:
                self._login(smtp)
                yield smtp
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPAuthenticationError as error:
            raise CredentialsRejected(f"{where}: login refused ({error.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            first = next(iter(error.recipients.values()))
            failure = _smtp_error(f"{where}: recipients refused", first[0], first[1])
            if isinstance(failure, TransientError) and any(code >= 500 for code in codes):
                failure = PermanentError(str(failure))
            raise failure from None
        except smtplib.SMTPResponseException as error:
            raise _smtp_error(where, error.smtp_code, error.smtp_error) from None
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentError(f"{where}: {error}") from None
        except ssl.SSLCertVerificationError as error:
            raise PermanentError(
                f"{where}: certificate not trusted ({error.verify_message}); "
                "set settings.ca_file for a private CA"
            ) from None
        except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as error:
            raise TransientError(f"{where}: {type(error).__name__}: {error}") from None

    def verify(self) -> str:
        """Connect (EHLO, STARTTLS), log in when credentials are declared, then QUIT:
        no mail is sent."""
        with self._session():
            pass
        declared = "username" in self.channel.secrets or "password" in self.channel.secrets
        what = "login accepted" if declared else "connected (no login configured)"
        return f"smtp {self.host}:{self.port}: {what}"

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        recipients = self._recipients(message.audience)
        bad = [address for address in recipients if not valid_address(address)]
        if not recipients or bad:
            problem = NO_ADDRESS if not recipients else f"{bad[0]!r} is not an email address"
            raise PermanentError(
                f"channel {self.channel.name!r}, segment {message.segment!r}: {problem}"
            )
        msgid = message_id(message.delivery_id or idempotency_key, self.msgid_domain)
        # Read every file before connecting: nothing is half sent when one is missing.
        inline = [(cid, media, read_media(media)) for cid, media in self._inline_images(message)]
        attached = [
            (media, read_media(media)) for media in message.attachments if media.kind != "image"
        ]
        email = compose(
            message,
            sender=self.sender,
            recipients=recipients,
            subject=subject_for(message, self.subject),
            html=self.render_html(message),
            msgid=msgid,
            inline=inline,
            attached=attached,
        )
        with self._session() as smtp:
            refused = smtp.send_message(email)
        # Sent: from here on nothing may raise (the runner would count it as failed).
        receipt = Receipt(
            remote_id=msgid,
            extra={"to": recipients, "refused": sorted(refused)},
        )
        self._published[idempotency_key] = receipt
        return receipt
