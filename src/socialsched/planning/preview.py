"""A plan as a self-contained HTML calendar grid, for eyeballing before scheduling.

One row per segment, one column per local day. Each delivery is a chip with its local
time, channel and post; the rendered text is its tooltip; its images are small inline
thumbnails with their alt text. Weekends and holidays are
shaded with each segment's own country rules, and moved deliveries say why they moved.
The page needs no network: CSS and JavaScript are inline.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import date, timedelta

from socialsched.calendar.holidays_table import DayTable, display_language
from socialsched.calendar.model import Calendar, Delivery, Segment
from socialsched.media.model import Media

THUMBNAIL_SIDE = 96  # pixels; shown at half that, sharp on high-density screens

_REASONS = {
    "holiday": "moved off a holiday",
    "weekend": "moved off the weekend",
    "quiet_hours": "moved out of quiet hours",
}

_CSS = """
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1d2330}
h1{font-size:18px;margin:0 0 4px}
p.meta{margin:0 0 12px;color:#5a6372}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px;
 border:1px solid #c9ced8}
.wrap{overflow-x:auto}
table{border-collapse:collapse;table-layout:fixed}
th,td{border:1px solid #dfe3ea;vertical-align:top;padding:3px}
thead th{background:#f4f6f9;font-weight:600;width:112px;position:sticky;top:0}
thead th small{display:block;font-weight:400;color:#5a6372}
th.segment{text-align:left;min-width:130px;background:#f4f6f9}
th.segment small{display:block;font-weight:400;color:#5a6372}
td.weekend{background:#f1f1f4}
td.holiday{background:#fff1d6}
td .day-note{display:block;font-size:11px;color:#8a5a00;margin-bottom:2px}
td .day-note.observance{color:#6b3fa0}
.chip{display:block;margin:2px 0;padding:2px 5px;border-radius:6px;background:#dbe8ff;
 border:1px solid #9bb8f0;cursor:default;overflow-wrap:anywhere}
.chip b{font-weight:600}
.chip .post{display:block;color:#334}
.chip.moved{background:#ffe1dc;border-color:#e58f80}
.chip .reason{display:block;font-size:11px;color:#8d2b1b;white-space:normal}
.chip.hl{outline:2px solid #2457c5}
.chip .media{display:block;margin-top:2px}
.chip .media img{max-width:48px;max-height:48px;margin-right:2px;vertical-align:top;
 border:1px solid #9bb8f0;background:#fff}
.chip .media .video{font-size:11px;color:#334}
.chip .parts{display:block;font-size:11px;color:#334}
"""

# Hovering a chip outlines every chip of the same post, to see one post across markets.
_JS = """
(function () {
  var chips = document.querySelectorAll('.chip');
  function mark(post, on) {
    chips.forEach(function (chip) {
      if (chip.dataset.post === post) { chip.classList.toggle('hl', on); }
    });
  }
  chips.forEach(function (chip) {
    chip.addEventListener('mouseenter', function () { mark(chip.dataset.post, true); });
    chip.addEventListener('mouseleave', function () { mark(chip.dataset.post, false); });
  });
  document.body.dataset.ready = String(chips.length);
})();
"""


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _day_table(calendar: Calendar, segment: Segment, years: Sequence[int]) -> DayTable:
    return DayTable(
        segment.country,
        segment.subdivision_code,
        years,
        [o for o in calendar.observances if o.applies_to(segment)],
        language=display_language(segment.country, segment.locale),
    )


def thumbnail_uri(media: Media, side: int = THUMBNAIL_SIDE) -> str:
    """A small thumbnail of an image as a `data:` URI (JPEG, or PNG when it has
    transparency), so the page needs no other file."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(media.read())) as image:
        thumb = ImageOps.exif_transpose(image) or image
        thumb.thumbnail((side, side))
        alpha = thumb.mode in ("RGBA", "LA", "PA") or "transparency" in thumb.info
        thumb = thumb.convert("RGBA" if alpha else "RGB")
        buffer = io.BytesIO()
        thumb.save(buffer, "PNG" if alpha else "JPEG", quality=70)
    mime_type = "image/png" if alpha else "image/jpeg"
    return f"data:{mime_type};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def _media_html(delivery: Delivery, thumbnails: dict[str, str]) -> str:
    """The thumbnails (images) and labels (videos) of a delivery, with alt text."""
    if not delivery.media:
        return ""
    shown = []
    for media in delivery.media:
        alt = html.escape(media.alt)
        name = html.escape(media.filename or media.digest[:12])
        title = f"{name}: {alt}" if media.alt else f"{name} (no alt text)"
        if media.kind == "image":
            if media.digest not in thumbnails:
                thumbnails[media.digest] = thumbnail_uri(media)
            shown.append(
                f'<img src="{thumbnails[media.digest]}" alt="{alt}" title="{title}" '
                f'data-digest="{media.digest}">'
            )
        else:
            shown.append(f'<span class="video" title="{title}">video: {name}</span>')
    return f'<span class="media">{"".join(shown)}</span>'


def _chip(delivery: Delivery, thumbnails: dict[str, str]) -> str:
    classes = "chip moved" if delivery.reason else "chip"
    tooltip = delivery.text or ""
    reason = ""
    if delivery.reason:
        why = _REASONS.get(delivery.reason, f"moved ({delivery.reason})")
        origin = f" from {delivery.shifted_from:%m-%d %H:%M}" if delivery.shifted_from else ""
        reason = f'<span class="reason">{html.escape(why + origin)}</span>'
        tooltip = f"{tooltip}\n\n[{why}{origin}]"
    attributes = {
        "class": classes,
        "data-post": delivery.post,
        "data-segment": delivery.segment,
        "data-channel": delivery.channel,
        "data-local": delivery.local.isoformat(),
        "data-reason": delivery.reason or "",
        "title": tooltip,
    }
    rendered = " ".join(f'{key}="{html.escape(value)}"' for key, value in attributes.items())
    parts = f'<span class="parts">thread of {len(delivery.parts)}</span>' if delivery.parts else ""
    return (
        f"<div {rendered}><b>{delivery.local:%H:%M}</b> {html.escape(delivery.channel)} "
        f'<span class="post">{html.escape(delivery.post)}</span>{reason}{parts}'
        f"{_media_html(delivery, thumbnails)}</div>"
    )


def render_html(calendar: Calendar, deliveries: Sequence[Delivery], start: date, end: date) -> str:
    """The deliveries of `calendar` between `start` and `end` (local days, inclusive)
    as one self-contained HTML page."""
    days = _days(start, end)
    years = tuple(range(start.year - 1, end.year + 2))
    by_cell: dict[tuple[str, date], list[Delivery]] = {}
    for delivery in sorted(deliveries, key=lambda d: (d.local.replace(tzinfo=None), d.post)):
        by_cell.setdefault((delivery.segment, delivery.local.date()), []).append(delivery)

    head = "".join(
        f'<th data-day="{day.isoformat()}">{day:%a}<small>{day.isoformat()}</small></th>'
        for day in days
    )
    rows = []
    thumbnails: dict[str, str] = {}  # digest -> data URI, each image encoded once
    for segment in calendar.segments:
        table = _day_table(calendar, segment, years)
        cells = []
        for day in days:
            holiday = table.holiday(day)
            classes = []
            note = ""
            if holiday is not None:
                classes.append("holiday")
                note = f'<span class="day-note">{html.escape(holiday)}</span>'
            elif table.is_weekend(day):
                classes.append("weekend")
            # Observances that are not holidays do not shade the day, but posts may
            # trigger on them, so name them.
            observed = [o.name for o in table.observance_days.get(day, ()) if not o.holiday]
            if observed:
                names = html.escape(", ".join(dict.fromkeys(observed)))
                note += (
                    f'<span class="day-note observance" data-observance="{names}">{names}</span>'
                )
            chips = "".join(_chip(d, thumbnails) for d in by_cell.get((segment.name, day), []))
            class_attribute = f' class="{" ".join(classes)}"' if classes else ""
            title = f' title="{html.escape(holiday)}"' if holiday else ""
            cells.append(
                f'<td data-day="{day.isoformat()}"{class_attribute}{title}>{note}{chips}</td>'
            )
        rows.append(
            f'<tr data-segment="{html.escape(segment.name)}"><th class="segment">'
            f"{html.escape(segment.name)}<small>{html.escape(segment.locale)} · "
            f"{html.escape(segment.timezone.key)} · {html.escape(segment.country)}</small>"
            f"</th>{''.join(cells)}</tr>"
        )
    moved = sum(1 for d in deliveries if d.reason)
    title = f"{calendar.name}: {start.isoformat()} to {end.isoformat()}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">{len(deliveries)} deliveries, {moved} moved; local times in each '
        "segment's own time zone. Hover a chip for its text.</p>"
        '<p class="legend"><span><i style="background:#f1f1f4"></i>weekend</span>'
        '<span><i style="background:#fff1d6"></i>holiday</span>'
        '<span><i style="background:#ffe1dc"></i>moved delivery</span></p>'
        f'<div class="wrap"><table><thead><tr><th class="segment">segment</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"<script>{_JS}</script></body></html>\n"
    )


__all__ = ["render_html"]
