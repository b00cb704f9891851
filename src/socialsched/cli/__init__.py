"""The `socialsched` command line: a thin layer over the Python API.

`main` (the click group, from `.group`) with every command added to it here: each
command module imports `.group`, `.options` and the like, never this package back.
The console script is `socialsched.cli:main`.
"""

from __future__ import annotations

from .adapters import adapters_group
from .channels import channels_group
from .collect import collect_command
from .deliveries import (
    approve_command,
    cancel_command,
    publish_now_command,
    resolve_command,
    retract_command,
)
from .group import main
from .holds import pause_command, resume_command
from .plan import export_command, lint_command, plan_command, preview_command
from .queue import queue_group
from .report import report_command, suggest_times_command
from .run import run_command
from .schedule import schedule_command
from .status import log_command, status_command

for _command in (
    adapters_group,
    approve_command,
    cancel_command,
    channels_group,
    collect_command,
    export_command,
    lint_command,
    log_command,
    pause_command,
    plan_command,
    preview_command,
    publish_now_command,
    queue_group,
    report_command,
    resolve_command,
    resume_command,
    retract_command,
    run_command,
    schedule_command,
    status_command,
    suggest_times_command,
):
    main.add_command(_command)

__all__ = ["main"]
