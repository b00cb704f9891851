"""Never carry a secret across a redirect to another origin.

socialsched's own HTTP clients do not follow redirects at all (httpx's default), so a
token, a signed body or a password goes only to the origin the operator approved.
Some network SDKs follow redirects themselves (atproto's client for Bluesky does):
httpx then drops the `Authorization` header on a redirect to another origin, but
re-sends the body of a 307 or 308 redirect, and a login body holds the password. The
response hook here stops such a client before it follows a redirect anywhere but the
origin it was talking to.
"""

from __future__ import annotations

import httpx

from .destinations import DestinationError, origin


class CrossOriginRedirect(httpx.TooManyRedirects):
    """A redirect to another origin was refused (the request's secrets stay put)."""


def refuse_cross_origin_redirects(response: httpx.Response) -> None:
    """An httpx response hook (`event_hooks={"response": [...]}`): raise
    `CrossOriginRedirect` for a redirect whose target is another origin
    (scheme://host:port), before the client follows it. The message names origins
    only, never a path or query (where tokens live)."""
    if not response.has_redirect_location:
        return
    source = response.request.url
    target = source.join(response.headers["Location"])
    try:
        here, there = origin(str(source)), origin(str(target))
    except DestinationError:
        here, there = origin(str(source)), "an address that is not a URL"
    if here != there:
        raise CrossOriginRedirect(
            f"refused to follow a redirect from {here} to {there}: "
            "a secret is never sent to another origin",
            request=response.request,
        )


__all__ = ["CrossOriginRedirect", "refuse_cross_origin_redirects"]
