"""The adapter and the contract test in docs/plugins.md work as printed."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    [block] = [b for b in blocks if containing in b]
    return block


def test_the_guides_adapter_passes_the_guides_contract_test(pytester):
    package = pytester.mkpydir("socialsched_mynet")
    (package / "adapter.py").write_text(python_block("class MyNetAdapter(Adapter)"))
    pytester.makepyfile(test_contract=python_block("class TestMyNet(AdapterContract)"))
    pytester.syspathinsert()
    recorder = pytester.inline_run("-p", "no:cacheprovider")
    passed, skipped, failed = recorder.listoutcomes()
    assert failed == []
    assert len(passed) >= 12
    # The guide's adapter takes images and is not idempotent across processes.
    assert {r.nodeid.rsplit("::", 1)[1] for r in skipped} == {
        "test_declared_idempotency_holds_across_instances",
        "test_validate_rejects_media_when_unsupported",
    }
