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
    # Not skipped: verify without the token (the guide's adapter declares it required,
    # so the base verify() asks for it before saying it cannot check).
    assert "test_verify_with_a_missing_secret_raises_missing_secret_error" in {
        r.nodeid.rsplit("::", 1)[1] for r in passed
    }
    assert {r.nodeid.rsplit("::", 1)[1] for r in skipped} == {
        "test_declared_idempotency_holds_across_instances",
        "test_validate_rejects_media_when_unsupported",
        "test_validate_rejects_an_image_type_it_does_not_take",
        "test_validate_rejects_alt_text_over_max_alt_length",
        "test_publishes_a_fitting_video",
        "test_validate_rejects_more_videos_than_max_count",
        "test_validate_rejects_images_with_a_video_unless_mixed_media",
        "test_publishes_a_thread_as_a_reply_chain",
        "test_find_after_publish_returns_its_receipt",
        "test_find_of_an_unknown_key_returns_none",
    }
