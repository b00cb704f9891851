"""Convert another scheduler's CSV export (Buffer, Postiz, ...) to socialsched's columns.

    python convert_export.py buffer-export.csv -o from-buffer.csv \\
        --timezone Europe/Paris --channel Mastodon=mastodon --channel LinkedIn=newsletter

Exports name their columns differently from one tool, plan and version to the next,
so each column is found by the usual names (case and spacing ignored) and `--column`
names any other, e.g. `--column time="Scheduled Date"`:

- text: the post's text;
- time: when it goes out: an ISO 8601 time with its offset (`2027-03-09T09:00:00Z`,
  as Buffer's `dueAt`), or a local `YYYY-MM-DD HH:MM` in `--timezone`;
- channel: the account or network it goes to (mapped with `--channel`; a post sent
  to several channels at the same time becomes one post with several channels);
- media: image or video links (separated by `|`, `,` or spaces);
- alt: the media's description (alt text), one per media item, `|`-separated.

socialsched's `at` is each market's *local* time, so the time is converted to
`--timezone` (the market the posts were planned for). Only the standard library is
used; the output is UTF-8 CSV that `posts_from` reads.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

# The names each field goes by in exports (compared lower-case, without spaces,
# underscores or dashes).
ALIASES = {
    "text": ["text", "posttext", "content", "message", "caption", "post"],
    "time": ["dueat", "scheduledat", "scheduledtime", "publishdate", "date", "sentat", "postedat"],
    "channel": ["channel", "profile", "account", "integration", "service", "network"],
    "media": ["media", "medialink", "mediaurl", "mediaurls", "imageurl", "imageurls", "assets"],
    "alt": ["mediadescription", "alttext", "alt", "imagedescription", "description"],
}
REQUIRED = ("text", "time")


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def find_columns(header: list[str], given: dict[str, str]) -> dict[str, str]:
    """socialsched field -> the export's column name; raises SystemExit when a
    required one is missing."""
    by_key = {_key(name): name for name in header}
    found: dict[str, str] = {}
    for field, names in ALIASES.items():
        if field in given:
            if given[field] not in header:
                raise SystemExit(f"--column {field}={given[field]!r}: no such column in {header}")
            found[field] = given[field]
            continue
        match = next((by_key[name] for name in names if name in by_key), None)
        if match is not None:
            found[field] = match
    missing = [field for field in REQUIRED if field not in found]
    if missing:
        raise SystemExit(
            f"no {' or '.join(missing)} column in {header}: name it with "
            f'--column {missing[0]}="Column name"'
        )
    return found


def local_time(value: str, zone: ZoneInfo) -> datetime:
    """An export's time as a local time in `zone`."""
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"{value!r} is not a time socialsched can read (ISO 8601)") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def slug(text: str, length: int = 32) -> str:
    """A short id part from a text: ascii letters and digits joined by dashes."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept: list[str] = []
    for word in re.findall(r"[a-z0-9]+", plain.lower()):
        if kept and len("-".join([*kept, word])) > length:
            break  # whole words only
        kept.append(word[:length])
    return "-".join(kept) or "post"


def convert(
    rows: list[dict[str, str]],
    columns: dict[str, str],
    zone: ZoneInfo,
    channels: dict[str, str],
) -> list[dict[str, str]]:
    """socialsched rows (id, text, date, at, channels, media, alt) from export rows."""
    posts: dict[tuple[str, str, str, str, str], dict[str, str]] = {}
    for row in rows:
        text = (row.get(columns["text"]) or "").strip()
        when = (row.get(columns["time"]) or "").strip()
        if not text or not when:
            continue  # a draft or an empty row
        moment = local_time(when, zone)
        media = re.split(r"[|,\s]+", (row.get(columns.get("media", "")) or "").strip())
        media_cell = "|".join(item for item in media if item)
        alt = (row.get(columns.get("alt", "")) or "").strip() if media_cell else ""
        channel = (row.get(columns.get("channel", "")) or "").strip()
        mapped = channels.get(channel, "") if channels else ""
        key = (text, f"{moment:%Y-%m-%d}", f"{moment:%H:%M}", media_cell, alt)
        post = posts.setdefault(
            key,
            {
                "id": f"{moment:%Y-%m-%d}-{slug(text)}",
                "text": text,
                "date": key[1],
                "at": key[2],
                "channels": "",
                "media": media_cell,
                "alt": alt,
            },
        )
        if mapped and mapped not in post["channels"].split("|"):
            post["channels"] = "|".join(filter(None, [post["channels"], mapped]))
    taken: dict[str, int] = {}
    for post in posts.values():  # ids must be unique: number repeats
        count = taken[post["id"]] = taken.get(post["id"], 0) + 1
        if count > 1:
            post["id"] = f"{post['id']}-{count}"
    return list(posts.values())


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="the CSV file exported by the other tool")
    parser.add_argument("-o", "--output", type=Path, help="where to write (default: stdout)")
    parser.add_argument("--timezone", default="UTC", help="the market's time zone (IANA name)")
    parser.add_argument(
        "--channel", action="append", default=[], metavar="THEIRS=OURS",
        help="map an export's channel to a socialsched channel (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--column", action="append", default=[], metavar="FIELD=COLUMN",
        help="the export's column for text, time, channel, media or alt",
    )  # fmt: skip
    args = parser.parse_args(argv)
    pairs = {"--channel": args.channel, "--column": args.column}
    for option, values in pairs.items():
        for value in values:
            if "=" not in value:
                parser.error(f"{option} {value!r}: write NAME=VALUE")
    channels = dict(value.split("=", 1) for value in args.channel)
    given = dict(value.split("=", 1) for value in args.column)
    with args.export.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = find_columns(list(reader.fieldnames or []), given)
        posts = convert(list(reader), columns, ZoneInfo(args.timezone), channels)
    fields = ["id", "text", "date", "at", "channels", "media", "alt"]
    out = args.output.open("w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(posts)
    finally:
        if args.output:
            out.close()
    print(f"{len(posts)} post(s) converted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
