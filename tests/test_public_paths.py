"""The import paths plugins and apps use keep working, whatever moves inside the
package: `socialsched`, `socialsched.adapters`, `socialsched.testing`,
`socialsched.hookspecs`, `socialsched.plugins`, and every name in their `__all__`."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = [
    "socialsched",
    "socialsched.adapters",
    "socialsched.testing",
    "socialsched.plugins",
    "socialsched.runner",
    "socialsched.store",
    "socialsched.media",
]

# socialsched.hookspecs has no __all__: its hook specifications are read by pluggy.
# What the adapters in plugins/ and the docs' examples import from the public paths.
USED_BY_PLUGINS = {
    "socialsched": ["hookimpl", "load", "plan", "Planner", "Plan", "Store", "Runner", "Channel"],
    "socialsched.adapters": [
        "Adapter",
        "Capabilities",
        "Message",
        "Receipt",
        "TransientError",
        "PermanentError",
        "CredentialsRejected",
        "QuotaReached",
        "CannotCheck",
    ],
    "socialsched.testing": ["AdapterContract"],
    "socialsched.hookspecs": ["hookimpl", "hookspec"],
}


@pytest.mark.parametrize("path", PUBLIC)
def test_every_name_in_all_imports(path: str) -> None:
    module = importlib.import_module(path)
    names = getattr(module, "__all__", None)
    assert names, f"{path} has no __all__"
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("path", sorted(USED_BY_PLUGINS))
def test_the_names_plugins_use_import(path: str) -> None:
    module = importlib.import_module(path)
    assert [name for name in USED_BY_PLUGINS[path] if not hasattr(module, name)] == []


def test_importing_the_package_loads_neither_the_store_nor_the_runner() -> None:
    # Planning commands start fast: SQLAlchemy and APScheduler load only when used.
    code = (
        "import sys, socialsched, socialsched.runner.logs; "
        "print(sorted(m for m in ('sqlalchemy', 'apscheduler') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
