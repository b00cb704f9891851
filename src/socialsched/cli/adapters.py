"""`socialsched adapters list`: the network adapters, built-in and from plugins."""

from __future__ import annotations

import json
from typing import Any

import click

from socialsched.adapters import plugins

from .options import format_option


@click.group("adapters")
def adapters_group() -> None:
    """Network adapters: built-in and from installed plugins."""


@adapters_group.command("list")
@format_option("table", "json")
def adapters_list_command(output_format: str) -> None:
    """Show every installed adapter, the package it comes from and its capabilities."""
    found = plugins.adapters()
    if output_format == "json":
        rows = [
            {
                "name": info.name,
                "package": info.package,
                "plugin": info.plugin,
                "capabilities": plugins.describe_capabilities(info.capabilities),
            }
            for info in sorted(found.values(), key=lambda info: info.name)
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [("NAME", "PACKAGE", "CAPABILITIES")]
    for info in sorted(found.values(), key=lambda info: info.name):
        table.append((info.name, info.package, _capabilities_text(info.capabilities)))
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    for row in table:
        click.echo(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}".rstrip())


def _capabilities_text(capabilities: Any) -> str:
    limit = capabilities.max_length
    parts = [f"max {limit} chars" if limit is not None else "no length limit"]
    audiences = ", ".join(capabilities.audiences) or "none"
    parts.append(f"audiences: {audiences}")
    for kind, limits in (("image", capabilities.images), ("video", capabilities.videos)):
        if limits.max_count:
            parts.append(f"{kind}s: up to {limits.max_count}")
    for flag in ("threads", "native_scheduling", "delete", "idempotent"):
        if getattr(capabilities, flag):
            parts.append(flag.replace("_", " "))
    return "; ".join(parts)
