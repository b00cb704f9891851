"""Building the email for a message: subject, Message-ID, text part and HTML part.

The calendar renders one plain text per delivery, the same for every network. The text
part is that text unchanged; the HTML part is a second, autoescaped Jinja template fed
with the text split into paragraphs and lines, so calendar templates stay
network-agnostic and nothing in the rendered text can inject markup into the HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from socialsched.adapters import Message
from socialsched.media import Media
from socialsched.trust.paths import confined_loader

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def linkify(line: str) -> Markup:
    """`line` HTML-escaped, with http(s) URLs turned into links."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(line):
        out.append(escape(line[last : match.start()]))
        url = escape(match.group(0))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.end()
    out.append(escape(line[last:]))
    return Markup("").join(out)


def html_environment(template_path: str | None) -> tuple[jinja2.Environment, str]:
    """A Jinja environment (autoescaping) and the name of the HTML template to use."""
    if template_path is None:
        loader: jinja2.BaseLoader = jinja2.PackageLoader("socialsched_email", "templates")
        name = "message.html"
    else:
        path = Path(template_path)
        # A calendar-named file: read only inside its folder, regular files only.
        loader = confined_loader(path.parent)
        name = path.name
    # Sandboxed: the template comes from whoever edits the calendar.
    environment = SandboxedEnvironment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters["linkify"] = linkify
    return environment, name


def paragraphs(text: str) -> list[list[str]]:
    """Blank-line separated paragraphs of `text`, each a list of its lines."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return [block.splitlines() for block in blocks if block.strip()]


def message_id(delivery_id: str, domain: str) -> str:
    """The Message-ID of a delivery: the same delivery always gets the same id, so a
    resend is recognisable (and dropped by list software that deduplicates)."""
    local = _SAFE_ID.sub("-", delivery_id) if delivery_id else make_msgid().strip("<>")
    return f"<{local}.socialsched@{domain}>"


def subject_for(message: Message, template: str | None) -> str:
    """The subject: `template` filled with the message's fields, else the first line."""
    if template is not None:
        fields = {
            "post": message.post,
            "segment": message.segment,
            "channel": message.channel,
            "locale": message.locale,
            "date": message.local.date().isoformat(),
        }
        return template.format_map(fields)
    first = next((line.strip() for line in message.text.splitlines() if line.strip()), "")
    return first or message.post


def domain_of(sender: str) -> str:
    """The domain part of a From address."""
    return parseaddr(sender)[1].rpartition("@")[2]


def content_id(media: Media, number: int, domain: str) -> str:
    """The Content-ID (without angle brackets) of the `number`th inline image: stable
    for the same image, so a resend is the same message."""
    return f"image{number}.{media.digest[:16]}@{domain}"


def compose(
    message: Message,
    *,
    sender: str,
    recipients: list[str],
    subject: str,
    html: str,
    msgid: str,
    inline: Sequence[tuple[str, Media, bytes]] = (),
    attached: Sequence[tuple[Media, bytes]] = (),
) -> EmailMessage:
    """The email for `message`: multipart/alternative (text first, HTML preferred);
    the HTML part becomes multipart/related with the `inline` images (Content-ID,
    media, bytes) it shows through `cid:` links; with `attached` files (videos) the
    whole is multipart/mixed, the files after it."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Subject"] = subject
    email["Message-ID"] = msgid
    email["Date"] = format_datetime(message.utc)
    email["X-Socialsched-Delivery"] = message.delivery_id or "-"
    email.set_content(message.text)
    email.add_alternative(html, subtype="html")
    if inline:
        html_part = email.get_body(preferencelist=("html",))
        assert html_part is not None  # added just above
        for cid, media, data in inline:
            maintype, subtype = media.mime_type.split("/")
            html_part.add_related(
                data,
                maintype,
                subtype,
                cid=f"<{cid}>",
                disposition="inline",
                filename=media.filename or None,
            )
    for media, data in attached:
        maintype, subtype = media.mime_type.split("/")
        email.add_attachment(data, maintype, subtype, filename=media.filename or "attachment")
    # After the parts exist: making the message multipart moves Content-* headers
    # into its first part.
    email["Content-Language"] = message.locale
    return email


def valid_address(value: str) -> bool:
    """Whether `value` is a single addr-spec such as news-fr@lists.example.com."""
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, TypeError):
        return False
    return bool(address.username and address.domain and "." in address.domain)
