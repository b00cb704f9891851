"""The spreadsheet recipe (docs/recipes/spreadsheet-import) plans what its page says,
and its converter turns the sample export into rows socialsched reads.

Expectations come from the recipe's files read with the csv and tomllib modules and
from zoneinfo, never from socialsched's own reading of the sheet.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

import socialsched
from socialsched.cli import main

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "recipes" / "spreadsheet-import"


def _rows() -> list[dict[str, str]]:
    with (RECIPE / "posts.csv").open(encoding="utf-8-sig", newline="") as handle:
        return [row for row in csv.DictReader(handle) if any(row.values())]


def _split(cell: str) -> list[str]:
    return [piece for piece in cell.split("|") if piece]


def _invoke(cwd: Path, *args: str):
    before = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        os.chdir(before)


def test_the_sheet_plans_as_its_rows_say(tmp_path):
    raw = tomllib.loads((RECIPE / "calendar.toml").read_text(encoding="utf-8"))
    zones = {s["name"]: s["timezone"] for s in raw["segment"]}
    locales = {s["name"]: s["locale"] for s in raw["segment"]}
    brand = raw["calendar"]["vars"]["brand"]
    expected = set()
    for row in _rows():
        for day in _split(row["date"]):
            for segment in _split(row["segments"]) or list(zones):
                french = locales[segment].startswith("fr") and row["text.fr"]
                text = (row["text.fr"] if french else row["text"]).replace(
                    "{{ vars.brand }}", brand
                )
                text = text.replace("{{ vars.origin }}", row["vars.origin"])
                alts = _split(row["alt.fr"] if french and row["alt.fr"] else row["alt"])
                local = datetime.fromisoformat(f"{day}T{row['at']}").replace(
                    tzinfo=ZoneInfo(zones[segment])
                )
                for channel in _split(row["channels"]) or [c["name"] for c in raw["channel"]]:
                    utc = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    expected.add((row["id"], segment, channel, utc, text, tuple(alts)))
    # Run as users do: from another folder, the calendar named relatively.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = os.path.relpath(RECIPE / "calendar.toml", elsewhere)
    result = _invoke(
        elsewhere,
        "plan",
        relative,
        "--start",
        "2027-03-01",
        "--end",
        "2027-03-31",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    planned = {
        (
            d["post"],
            d["segment"],
            d["channel"],
            d["utc"],
            d["text"],
            tuple(m["alt"] for m in d.get("media", [])),
        )
        for d in json.loads(result.stdout)
    }
    assert planned == expected
    assert len(expected) == 8


def test_the_page_shows_the_plan_the_cli_prints(monkeypatch):
    # The page shows the table at the width used when no terminal is known; under
    # pytest-xdist a worker may see the width of the terminal the run started in.
    monkeypatch.setenv("COLUMNS", "160")
    page = (RECIPE / "index.md").read_text(encoding="utf-8")
    command, shown = re.search(
        r"```console\n\$ socialsched (plan docs/recipes/spreadsheet-import/\S+ [^\n]*)\n(.*?)```",
        page,
        re.S,
    ).groups()
    result = _invoke(ROOT, *command.split())
    assert result.exit_code == 0, result.output
    assert result.output.split() == shown.split()


def test_the_pages_error_examples_are_what_lint_says(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(RECIPE, project)
    sheet = project / "posts.csv"
    lines = sheet.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[3].startswith("tasting,")  # line 4, row 3 (the empty row counts)
    page = (RECIPE / "index.md").read_text(encoding="utf-8")
    section = page[page.index("## When a row is wrong") :]
    blocks = re.findall(r"```console\n\$ [^\n]*\n(.*?)```", section, re.S)[:2]
    broken = [
        lines[3].replace(",09:00,", ",25:00,"),  # the row's time
        lines[0].replace("id,text,", "id,txet,", 1),  # the header
    ]
    for block, (index, line) in zip(blocks, [(3, broken[0]), (0, broken[1])], strict=True):
        changed = list(lines)
        changed[index] = line
        sheet.write_text("".join(changed), encoding="utf-8")
        result = _invoke(tmp_path, "lint", "project/calendar.toml")
        assert result.exit_code == 1
        assert isinstance(result.exception, SystemExit)  # a message, not a traceback
        shown = block.strip().replace("docs/recipes/spreadsheet-import/", "project/")
        assert shown.removesuffix(" ...") in result.output, (shown, result.output)


def _export_rows() -> list[dict[str, str]]:
    with (RECIPE / "buffer-export.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_converter_turns_the_sample_export_into_rows_posts_from_reads(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(RECIPE, project)
    out = project / "from-buffer.csv"
    run = subprocess.run(
        [
            sys.executable, str(project / "convert_export.py"), "buffer-export.csv",
            "-o", out.name, "--timezone", "Europe/Paris",
            "--channel", "Mastodon=mastodon", "--channel", "LinkedIn=newsletter",
        ],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # Independently: each scheduled (text, time) once, its channels merged, in Paris time.
    mapping = {"Mastodon": "mastodon", "LinkedIn": "newsletter"}
    wanted: dict[tuple[str, str], dict] = {}
    for row in _export_rows():
        if not row["Due At"]:
            continue  # a draft
        when = datetime.fromisoformat(row["Due At"].replace("Z", "+00:00"))
        local = when.astimezone(ZoneInfo("Europe/Paris"))
        entry = wanted.setdefault(
            (row["Text"], row["Due At"]),
            {
                "local": local,
                "channels": [],
                "media": row["Media Link"].split(),
                "alt": row["Media Description"],
            },
        )
        entry["channels"].append(mapping[row["Channel"]])
    assert run.stderr.strip() == f"{len(wanted)} post(s) converted"
    # The converted file is a posts_from file like any other.
    calendar = project / "calendar.toml"
    calendar.write_text(
        calendar.read_text(encoding="utf-8").replace(
            'posts_from = ["posts.csv"]', 'posts_from = ["from-buffer.csv"]'
        ),
        encoding="utf-8",
    )
    loaded = socialsched.load(calendar)
    got = {post.text: post for post in loaded.posts}
    assert set(got) == {text for text, _ in wanted}
    for (text, _), entry in wanted.items():
        post = got[text]
        assert post.dates == (entry["local"].date(),)
        assert post.at == entry["local"].time().replace(tzinfo=None)
        assert list(post.channels) == entry["channels"]
        assert [item.url for item in post.media] == entry["media"]
        alts = entry["alt"].split("|") if entry["media"] else []
        assert [item.alt for item in post.media] == alts
        assert loaded.post_origins[post.id][0] == project / "from-buffer.csv"
    # The last row crosses midnight into Paris's first day of summer time.
    spring = next(post for text, post in got.items() if text.startswith("Spring hours"))
    assert str(spring.dates[0]) == "2027-03-29" and str(spring.at) == "00:30:00"
