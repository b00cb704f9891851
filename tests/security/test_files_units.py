"""The building blocks of the files and media URL probes, in-process: confinement,
regular-file reads with their size checks, the fetch's byte cap and deadline."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import pytest

from socialsched.trust.paths import (
    PathMissing,
    PathRefused,
    allowed_folders,
    confined,
    read_regular,
    regular_size,
)
from socialsched.trust.safe_fetch import FetchRefused, fetch

from .hostile import endless, redirect, reply, serving

LOCAL = (ipaddress.ip_network("127.0.0.1/32"),)


def test_confined_resolves_inside_and_refuses_outside(tmp_path):
    project = tmp_path / "project"
    (project / "img").mkdir(parents=True)
    calendar_file = project / "calendar.toml"
    assert confined("img/a.png", calendar_file) == project / "img" / "a.png"
    assert confined(str(project / "b.png"), calendar_file) == project / "b.png"
    for value in ("../x.png", "/etc/passwd", "img/../../x.png", "~/x.png"):
        with pytest.raises(PathRefused, match="not found: it must be inside"):
            confined(value, calendar_file, environ={})


def test_a_symlink_loop_is_refused_like_a_missing_file(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(PathRefused, match="'a' not found"):
        confined("a", tmp_path / "calendar.toml", environ={})


def test_allowed_paths_are_split_on_pathsep_and_resolved(tmp_path):
    other = tmp_path / "shared"
    other.mkdir()
    (tmp_path / "link").symlink_to(other)
    environ = {"SOCIALSCHED_ALLOWED_PATHS": os.pathsep.join(["", str(tmp_path / "link"), " "])}
    calendar_file = tmp_path / "project" / "calendar.toml"
    assert allowed_folders(calendar_file, environ) == [tmp_path / "project", other]
    assert confined(str(other / "a.png"), calendar_file, environ=environ) == other / "a.png"


def test_only_regular_files_within_the_limit_are_read(tmp_path):
    data = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    (tmp_path / "a.png").write_bytes(data)
    assert read_regular(tmp_path / "a.png", "a.png") == data
    assert read_regular(tmp_path / "a.png", "a.png", head=8) == data[:8]
    assert regular_size(tmp_path / "a.png", "a.png", limit=len(data)).st_size == len(data)
    over = re.escape("a.png is 108 bytes (108 bytes), over the 107")
    with pytest.raises(PathRefused, match=over):
        read_regular(tmp_path / "a.png", "a.png", limit=107)
    with pytest.raises(PathRefused, match="over the 107"):
        regular_size(tmp_path / "a.png", "a.png", limit=107)
    with pytest.raises(PathRefused, match="folder is a folder, not a file"):
        regular_size(tmp_path, "folder")
    with pytest.raises(PathRefused, match="zero is a device, not a file"):
        read_regular(Path("/dev/zero"), "zero")
    with pytest.raises(PathMissing, match="gone not found"):
        read_regular(tmp_path / "gone.png", "gone")
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(PathRefused, match="pipe is a FIFO, not a file"):
        read_regular(tmp_path / "pipe.png", "pipe", head=32)  # returns: never blocks


def test_a_body_of_exactly_the_cap_is_read_and_one_byte_more_is_refused():
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 992
    with serving({"/a.png": reply(data)}) as server:
        got = fetch(f"{server.url}/a.png", max_bytes=1000, deadline=10, allowed=LOCAL)
        assert (got.data, got.url) == (data, f"{server.url}/a.png")
        over = re.escape("the body is 1.0 KB (1000 bytes), over the 999")
        with pytest.raises(FetchRefused, match=over):
            fetch(f"{server.url}/a.png", max_bytes=999, deadline=10, allowed=LOCAL)


def test_a_redirect_within_the_allowed_network_is_followed():
    data = b"\x89PNG\r\n\x1a\n"
    with serving({"/final.png": reply(data)}) as server:
        server.routes["/start"] = redirect("/final.png")
        got = fetch(f"{server.url}/start", max_bytes=100, deadline=10, allowed=LOCAL)
        assert (got.data, got.url) == (data, f"{server.url}/final.png")
        assert server.paths == ["/start", "/final.png"]


def test_the_deadline_covers_the_whole_body():
    with serving({}) as server:
        server.routes["/drip"] = endless(server.stop, declared=None, piece=b"x", pause=0.2)
        with pytest.raises(FetchRefused, match="took longer than the 1 s"):
            fetch(f"{server.url}/drip", max_bytes=10**6, deadline=1, allowed=LOCAL)


def test_an_http_error_is_named():
    with serving({}) as server, pytest.raises(FetchRefused, match=r"^HTTP 404$"):
        fetch(f"{server.url}/nothing", max_bytes=100, deadline=10, allowed=LOCAL)
