"""docs/adapters.md is generated from the adapters' own capabilities and cannot drift."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from module_files import load_module

from socialsched.adapters import Adapter, Capabilities
from socialsched.adapters.registry import available_adapters
from socialsched.media.model import MediaLimits

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adapters.md"
gen = load_module("gen_adapters_table", DOC.with_name("gen_adapters_table.py"))


def committed_rows() -> dict[str, str]:
    """Adapter name -> its table row, as committed in docs/adapters.md."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([^`]+)` \|", line)
        if match:
            rows[match[1]] = line
    return rows


def repo_plugins() -> dict[str, set[str]]:
    """Distribution name -> entry-point names, for every network plugin under plugins/
    (the sample plugin is not a network and is not in the table)."""
    found = {}
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        if project["name"] in gen.SAMPLE_DISTRIBUTIONS:
            continue
        entry_points = project.get("entry-points", {}).get("socialsched", {})
        found[project["name"]] = set(entry_points)
    return found


def missing_repo_plugins() -> list[str]:
    missing = []
    for name in repo_plugins():
        try:
            distribution(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


class Sample(Adapter):
    __module__ = "sample_plugin.adapter"  # a module no installed distribution provides
    name = "sample"
    capabilities = Capabilities(
        max_length=12345,
        images=MediaLimits(max_count=4),
        audiences=("a", "b"),
        native_scheduling=True,
    )


def test_row_shows_each_declared_capability():
    assert gen.row(Sample) == (
        "| `sample` | sample_plugin | 12,345 | 4 | no | no | a, b | yes | no | no | cannot check |"
    )


def test_row_shows_video_threads_and_the_in_doubt_guarantee():
    class Finding(Sample):
        capabilities = Capabilities(videos=MediaLimits(max_count=1), threads=True, idempotent=True)

        def find(self, message, idempotency_key):
            return None

    class Keyed(Sample):
        capabilities = Capabilities(idempotent=True)

    class Stated(Keyed):
        doubt_guarantee = "checked (recent posts)"

    cells = lambda cls: [c.strip() for c in gen.row(cls).split("|")[1:-1]]  # noqa: E731
    assert cells(Finding)[3:6] == ["no", "1", "yes"]
    assert cells(Finding)[-1] == "checked (find)"
    assert cells(Keyed)[-1] == "idempotent key"
    assert cells(Stated)[-1] == "checked (recent posts)"


def test_render_sorts_adapters_by_name_under_one_header():
    class Zed(Sample):
        name = "zed"

    text = gen.render({"zed": Zed, "sample": Sample})
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].startswith("| Adapter | Package | Max length |")
    assert [line.split("`")[1] for line in table[2:]] == ["sample", "zed"]


@pytest.mark.parametrize("name", sorted(available_adapters()))
def test_committed_row_matches_the_installed_adapter(name):
    rows = committed_rows()
    assert name in rows, f"docs/adapters.md lacks {name!r}: run python docs/gen_adapters_table.py"
    assert rows[name] == gen.row(available_adapters()[name]), (
        f"docs/adapters.md is stale for {name!r}: run python docs/gen_adapters_table.py"
    )


def test_committed_table_lists_no_adapter_that_is_neither_installed_nor_in_plugins():
    installed = set(available_adapters())
    uninstalled_plugins = {
        entry
        for dist, entries in repo_plugins().items()
        if dist in missing_repo_plugins()
        for entry in entries
    }
    unknown = set(committed_rows()) - installed - uninstalled_plugins
    assert not unknown, f"docs/adapters.md lists adapters that do not exist: {sorted(unknown)}"


def test_whole_file_is_exactly_what_the_generator_writes():
    missing = missing_repo_plugins()
    if missing:
        pytest.skip(
            "not every plugin is installed, so the full table cannot be regenerated: "
            + ", ".join(f"pip install -e plugins/{name}" for name in missing)
        )
    assert DOC.read_text(encoding="utf-8") == gen.render(available_adapters()), (
        "docs/adapters.md is stale: run python docs/gen_adapters_table.py"
    )


def test_check_mode_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path, monkeypatch):
    stale = tmp_path / "adapters.md"
    stale.write_text("# old table\n", encoding="utf-8")
    monkeypatch.setattr(gen, "DOC", stale)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == gen.render(available_adapters())
