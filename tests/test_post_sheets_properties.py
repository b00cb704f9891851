"""Property: any posts written as CSV rows (quotes, commas, line breaks, any script)
load as the very posts the same values give as `[[post]]` tables."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import socialsched

HEAD = """[calendar]
name = "property"
{posts_from}

[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "tokyo"
locale = "ja-JP"
timezone = "Asia/Tokyo"
country = "JP"

[[channel]]
name = "community"
adapter = "console"

[[channel]]
name = "archive"
adapter = "console"
"""

# No Jinja delimiters (a text is a template) and no control characters but newlines.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}%#") | st.just("\n"),
    min_size=1,
    max_size=60,
).filter(lambda text: text.strip() != "")
WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
POST = st.fixed_dictionaries(
    {
        "text": TEXT,
        "text.fr": st.none() | TEXT,
        "dates": st.lists(st.integers(0, 400), min_size=1, max_size=3, unique=True),
        "at": st.tuples(st.integers(0, 23), st.integers(0, 59)),
        "segments": st.sampled_from([[], ["paris"], ["tokyo"], ["paris", "tokyo"]]),
        "channels": st.sampled_from([[], ["community"], ["archive", "community"]]),
        "tags": st.lists(WORD, max_size=3),
        "vars.city": st.none() | TEXT,
    }
)


def _values(index: int, post: dict) -> dict:
    """The post's keys and values, as a [[post]] table has them."""
    first = date(2027, 1, 1)
    if post["segments"] == ["tokyo"]:
        post = {**post, "text.fr": None}  # a French text no segment uses is an error
    values = {
        "id": f"post-{index}",
        "text": {"default": post["text"], "fr": post["text.fr"]}
        if post["text.fr"] is not None
        else post["text"],
        "dates": [str(first + timedelta(days=n)) for n in post["dates"]],
        "at": "{:02d}:{:02d}".format(*post["at"]),
    }
    for key in ("segments", "channels", "tags"):
        if post[key]:
            values[key] = post[key]
    if post["vars.city"] is not None:
        values["vars"] = {"city": post["vars.city"]}
    return values


def _toml(values: dict) -> str:
    # JSON strings, arrays and inline tables of strings are valid TOML.
    lines = ["[[post]]"]
    for key, value in values.items():
        if isinstance(value, dict):
            inner = ", ".join(
                f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()
            )
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    columns = ["id", "text", "text.fr", "date", "at", "segments", "channels", "tags", "vars.city"]
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for values in rows:
        text = values["text"]
        writer.writerow(
            [
                values["id"],
                text["default"] if isinstance(text, dict) else text,
                text["fr"] if isinstance(text, dict) else "",
                "|".join(values["dates"]),
                values["at"],
                "|".join(values.get("segments", [])),
                "|".join(values.get("channels", [])),
                "|".join(values.get("tags", [])),
                values.get("vars", {}).get("city", ""),
            ]
        )
    return out.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(POST, min_size=1, max_size=6))
def test_csv_rows_load_as_the_same_posts_as_tables(tmp_path_factory, posts):
    folder: Path = tmp_path_factory.mktemp("cal")
    values = [_values(index, post) for index, post in enumerate(posts)]
    tables = folder / "tables.toml"
    tables.write_text(
        HEAD.format(posts_from="") + "\n" + "\n".join(_toml(v) for v in values), encoding="utf-8"
    )
    rows = folder / "rows.toml"
    rows.write_text(HEAD.format(posts_from='posts_from = ["posts.csv"]'), encoding="utf-8")
    (folder / "posts.csv").write_bytes(b"\xef\xbb\xbf" + _csv(values).encode("utf-8"))
    assert socialsched.load(rows).posts == socialsched.load(tables).posts
