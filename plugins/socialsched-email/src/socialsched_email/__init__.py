"""socialsched-email: publish to mailing lists over SMTP."""

from socialsched import hookimpl

from .adapter import EmailAdapter

__all__ = ["EmailAdapter", "register_adapters"]


@hookimpl
def register_adapters(register):  # type: ignore[no-untyped-def]
    """Register the `email` adapter with socialsched."""
    register(EmailAdapter)
