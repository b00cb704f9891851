"""Where a problem is in a calendar file: the line of a `[[table]]` block or of a key.

tomllib gives no positions for values, so `LineIndex` reads the text itself.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z_][\w.]*)\s*\]\]|^\s*\[\s*([A-Za-z_][\w.]*)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*[=.]")


class LineIndex:
    """Maps (table, index, key) to a line number by reading the file's headers and keys.

    tomllib gives no positions for values, so this scans the text: good enough to point
    at the `[[post]]` block and the `key =` line a problem is about.
    """

    def __init__(self, text: str) -> None:
        self.text_lines = text.splitlines()
        self.blocks: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        current: tuple[str, int] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                if header[1]:  # [[table]]
                    table = header[1]
                    index = counts.get(table, 0)
                    counts[table] = index + 1
                    current = (table, index)
                    self.blocks[current] = number
                else:  # [table] or [post.vars] style sub-table
                    table = header[2]
                    root, _, sub = table.partition(".")
                    if root in counts and sub:
                        current = (root, counts[root] - 1)
                        self.keys.setdefault((*current, sub), number)
                    else:
                        current = (table, 0)
                        self.blocks[current] = number
                continue
            key = _KEY.match(line)
            if key and current is not None:
                self.keys.setdefault((*current, key[1].strip("\"'")), number)

    def line(self, table: str, index: int, key: str | None = None) -> int | None:
        """Line of `key` in the index-th `[[table]]` (or of the block itself)."""
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        return self.blocks.get((table, index))

    def find(self, needle: str, start: int | None) -> int | None:
        """The first line from line `start` on that contains `needle`, else `start`."""
        if start is None:
            return None
        for number in range(start, len(self.text_lines) + 1):
            if needle in self.text_lines[number - 1]:
                return number
        return start
