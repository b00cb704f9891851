"""The `socialsched` command line: a thin layer over the Python API.

`main` (the click group, from `.group`) with every command added to it here, by name
and where it is defined: a command's module is imported only when the command runs or
its help is shown, so that each command starts with only what it uses. Each command
module imports `.group`, `.options` and the like, never this package back. The console
script is `socialsched.cli:main`.
"""

from __future__ import annotations

from .group import main

# Name -> "module:attribute" of the click command (see `Group.add_lazy_command`).
COMMANDS = {
    "adapters": "socialsched.cli.adapters:adapters_group",
    "approve": "socialsched.cli.deliveries:approve_command",
    "cancel": "socialsched.cli.deliveries:cancel_command",
    "channels": "socialsched.cli.channels:channels_group",
    "collect": "socialsched.cli.collect:collect_command",
    "export": "socialsched.cli.plan:export_command",
    "lint": "socialsched.cli.plan:lint_command",
    "log": "socialsched.cli.status:log_command",
    "pause": "socialsched.cli.holds:pause_command",
    "plan": "socialsched.cli.plan:plan_command",
    "preview": "socialsched.cli.plan:preview_command",
    "publish-now": "socialsched.cli.deliveries:publish_now_command",
    "queue": "socialsched.cli.queue:queue_group",
    "report": "socialsched.cli.report:report_command",
    "resolve": "socialsched.cli.deliveries:resolve_command",
    "resume": "socialsched.cli.holds:resume_command",
    "retract": "socialsched.cli.deliveries:retract_command",
    "run": "socialsched.cli.run:run_command",
    "schedule": "socialsched.cli.schedule:schedule_command",
    "status": "socialsched.cli.status:status_command",
    "suggest-times": "socialsched.cli.report:suggest_times_command",
}

for _name, _where in COMMANDS.items():
    main.add_lazy_command(_name, _where)

__all__ = ["main"]
