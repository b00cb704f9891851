"""Hostile inputs for the files, media URL and image probes, made in the test (nothing
large is kept in the repository), and a media server on 127.0.0.1 that misbehaves."""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

SEGMENT = """
[[segment]]
name = "fr"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"
"""

CHANNEL = """
[[channel]]
name = "community"
adapter = "console"
"""


def calendar(folder: Path, media: str, *, channel: str = CHANNEL, extra: str = "") -> Path:
    """`folder`/calendar.toml with one post whose `media = ...` line is `media`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "calendar.toml"
    path.write_text(
        SEGMENT
        + channel
        + extra
        + '\n[[post]]\nid = "launch"\ntext = "Bonjour"\ndates = ["2027-03-02"]\n'
        + 'at = "10:00"\n'
        + f"media = {media}\n",
        encoding="utf-8",
    )
    return path


def line_of(path: Path, needle: str) -> int:
    """The first line of `path` containing `needle` (computed from the file itself)."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 30000) -> bytes:
    """A `side` x `side` 1-bit grey PNG of zeros: about 100 KB for 30000 (900 million
    pixels), built row by row so the test never holds the pixels."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def _gif_frame(left: int, delay: int = 10) -> bytes:
    """A graphic control extension and a white 1x1 frame at (`left`, 0)."""
    control = b"\x21\xf9\x04\x00" + struct.pack("<H", delay) + b"\x00\x00"
    descriptor = b"\x2c" + struct.pack("<HHHH", left, 0, 1, 1) + b"\x00"
    # LZW, minimum code size 2: clear (4), index 1, end (5) packed in 3-bit codes,
    # least significant bits first: 4 | 1 << 3 | 5 << 6 = 0x014C.
    data = b"\x02\x02\x4c\x01\x00"
    return control + descriptor + data


def gif_bomb(side: int = 3000, frames: int = 300) -> bytes:
    """An animated GIF whose screen is `side` x `side` with `frames` 1x1 frames (each
    one pixel further right, so no two frames are alike): a few KB on disk, `frames`
    full-size frames once Pillow decodes it."""
    screen = b"GIF89a" + struct.pack("<HH", side, side) + b"\x80\x00\x00"
    palette = b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    body = b"".join(_gif_frame(index % side) for index in range(frames))
    return screen + palette + loop + body + b"\x3b"


def sparse_jpeg(path: Path, size: int = 3 * 1024**3) -> Path:
    """A sparse file of `size` bytes starting with a JPEG header (no disk used)."""
    with path.open("wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        handle.truncate(size)
    return path


class MediaServer:
    """A threaded HTTP server on 127.0.0.1 whose answer to each path is a function
    of the handler (`routes`), recording the paths asked for."""

    def __init__(self, routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]) -> None:
        self.paths: list[str] = []
        self.routes = routes
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                # The client giving up (as it should, past a cap) is no error here.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MediaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(data: bytes, content_type: str = "image/png") -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


def redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def endless(
    stop: threading.Event, *, declared: int | None, piece: bytes, pause: float = 0.0
) -> Callable[[BaseHTTPRequestHandler], None]:
    """A PNG header then `piece` again and again (every `pause` seconds) until the
    client leaves or the server stops; `declared` is the Content-Length sent."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        if declared is not None:
            handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(b"\x89PNG\r\n\x1a\n")
        while not stop.is_set():
            handler.wfile.write(piece)
            handler.wfile.flush()
            if pause:
                time.sleep(pause)

    return answer


@contextmanager
def serving(
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]],
) -> Iterator[MediaServer]:
    with MediaServer(routes) as server:
        yield server
