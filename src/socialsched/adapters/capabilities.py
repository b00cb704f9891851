"""What a network accepts: the `Capabilities` an adapter declares (checked at plan time)."""

from __future__ import annotations

import attrs

from socialsched.media.model import NO_MEDIA, MediaLimits

from .engagement import engagement_counts


@attrs.frozen
class Capabilities:
    """What a network accepts. `max_length` is counted by `Adapter.text_length`.

    `images` and `videos` say how many of each a post may carry and their byte, pixel
    and type limits (the default accepts none); `mixed_media` whether images and a
    video may go in one post; `max_alt_length` the longest alt text; `threads` whether
    long text can go out as a reply chain (`Message.reply_to`); `engagement` which
    counts `Adapter.engagement` gives.
    """

    max_length: int | None = None
    audiences: tuple[str, ...] = ()
    native_scheduling: bool = False
    delete: bool = False
    idempotent: bool = False
    images: MediaLimits = NO_MEDIA
    videos: MediaLimits = NO_MEDIA
    mixed_media: bool = False
    max_alt_length: int | None = None
    threads: bool = False
    #: The engagement counts the network gives (names from
    #: `socialsched.engagement.COUNTS`); empty: it gives none (`Adapter.engagement`).
    engagement: tuple[str, ...] = attrs.field(default=(), converter=engagement_counts)

    @property
    def media(self) -> bool:
        """Whether the network takes any media at all."""
        return self.images.max_count > 0 or self.videos.max_count > 0

    def limits(self, kind: str) -> MediaLimits:
        """The limits for "image" or "video"."""
        return self.images if kind == "image" else self.videos
