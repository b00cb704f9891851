"""The adapter, the contract test and the examples in docs/plugins.md work as printed."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    [block] = [b for b in blocks if containing in b]
    return block


def test_the_guides_adapter_passes_the_guides_contract_test_and_its_examples_run(pytester):
    package = pytester.mkpydir("socialsched_mynet")
    (package / "adapter.py").write_text(python_block("class MyNetAdapter(Adapter)"))
    pytester.makepyfile(test_mynet_contract=python_block("class TestMyNet(AdapterContract)"))
    pytester.syspathinsert()
    recorder = pytester.inline_run("-p", "no:cacheprovider")
    passed, skipped, failed = recorder.listoutcomes()
    assert failed == []
    # Every case for what the guide's adapter declares runs: media, threads, verify, find.
    assert {r.nodeid.rsplit("::", 1)[1] for r in skipped} == {
        "test_declared_idempotency_holds_across_instances",  # not declared
        "test_validate_rejects_media_when_unsupported",  # it takes images
        "test_publishes_a_fitting_video",  # no videos declared
        "test_validate_rejects_more_videos_than_max_count",
        "test_validate_rejects_images_with_a_video_unless_mixed_media",
        "test_engagement_gives_declared_counts_and_none_for_the_others",  # none declared
    }
    assert {
        "test_a_post_accepted_with_an_unreadable_reply_still_returns_a_receipt",
        "test_publishes_a_fitting_image_with_its_alt_text",
        "test_publishes_a_thread_as_a_reply_chain",
        "test_verify_with_a_missing_secret_raises_missing_secret_error",
        "test_find_after_publish_returns_its_receipt",
        "test_find_of_an_unknown_key_returns_none",
    } <= {r.nodeid.rsplit("::", 1)[1] for r in passed}

    # The Media, Threads and Credentials examples, in order, as one reader runs them.
    namespace: dict[str, object] = {}
    for marker in ('sample_image(format="JPEG"', 'text="1/2 Le menu...', "after_a_crash"):
        exec(compile(python_block(marker), f"plugins.md ({marker})", "exec"), namespace)
