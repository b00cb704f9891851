"""The deployment files in deploy/ run valid `socialsched` commands: every command line
of the systemd units, the container file and the compose file is parsed by the CLI
itself (options, values and arguments), so renaming an option breaks this test."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from cli_commands import resolve

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = ("socialsched.service", "socialsched-schedule.service")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def socialsched_args(command_line: str) -> list[str]:
    words = shlex.split(command_line)
    assert Path(words[0]).name == "socialsched", command_line
    return words[1:]


def test_resolve_rejects_a_renamed_option():
    assert resolve(["run", "--metrics", "127.0.0.1:9464"]) == ["run"]
    with pytest.raises(click.NoSuchOption):
        resolve(["run", "--metrics-address", "127.0.0.1:9464"])
    with pytest.raises(click.BadParameter):
        resolve(["--log-format", "xml", "run"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [("socialsched.service", ["run"]), ("socialsched-schedule.service", ["schedule"])],
)
def test_systemd_units_run_valid_commands(name, expected):
    service = unit(name)["Service"]
    assert resolve(socialsched_args(service["ExecStart"])) == expected
    # Secrets come from an environment file, not from the unit.
    assert service["EnvironmentFile"] == "/etc/socialsched/socialsched.env"
    assert service["User"] == "socialsched"


def test_runner_unit_restarts_on_failure_reloads_with_sighup_and_serves_metrics():
    service = unit("socialsched.service")["Service"]
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    words = socialsched_args(service["ExecStart"])
    assert words[words.index("--metrics") + 1] == "127.0.0.1:9464"
    timer = unit("socialsched-schedule.timer")
    assert timer["Timer"]["OnUnitActiveSec"] == "1h"


def test_environment_example_names_the_database_variable():
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "socialsched.env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert "SOCIALSCHED_DB" in names and "PGPASSWORD" in names


def containerfile() -> dict[str, list[str]]:
    """The container file's exec-form instructions: ENTRYPOINT, CMD, HEALTHCHECK's CMD."""
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    found = {}
    for instruction in ("ENTRYPOINT", "CMD"):
        match = re.search(rf"^{instruction} (\[.*\])$", text, re.M)
        assert match, instruction
        found[instruction] = json.loads(match[1])
    return found


def test_container_runs_socialsched_and_its_default_command_is_valid():
    image = containerfile()
    assert image["ENTRYPOINT"] == ["socialsched"]
    assert resolve(image["CMD"]) == ["run"]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_has_postgresql_one_schedule_job_and_two_runners():
    services = compose()["services"]
    entry = containerfile()["ENTRYPOINT"]
    commands = {}
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "deploy/Containerfile"
            assert entry == ["socialsched"]
            commands[name] = resolve(service["command"])
    assert services["db"]["image"].rsplit("/", 1)[-1].startswith("postgres:")
    assert sorted(commands.values()) == [["run"], ["run"], ["schedule"]]
    runners = [name for name, path in commands.items() if path == ["run"]]
    for name in runners:
        service = services[name]
        assert service["environment"]["SOCIALSCHED_DB"].startswith("postgresql+psycopg://")
        assert service["env_file"] == "socialsched.env"
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        # The health check asks the port the runner serves metrics on.
        words = service["command"]
        port = words[words.index("--metrics") + 1].rsplit(":", 1)[1]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
    # Two runners, two worker names.
    workers = {
        services[n]["command"][services[n]["command"].index("--worker") + 1] for n in runners
    }
    assert len(workers) == 2
    assert services["schedule"]["restart"] == "no"
