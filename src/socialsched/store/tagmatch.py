"""Exact tag matching in SQL: whether a delivery's JSON list of tags holds one tag.

The `tags` column keeps the JSON text of a list. A substring test on that text
(`LIKE '%"promo"%'`) is wrong twice over: `%` and `_` in the tag are wildcards (so
`pr_mo` matched `promo` and `%` matched every tagged delivery), and a tag's JSON can
appear inside another tag's JSON (`"x` is stored as `"\\"x"`, which holds `"x"`).
So each database compares the decoded list elements themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class has_tag(FunctionElement[bool]):  # lower case: used like sqlalchemy.func.x
    """`has_tag(column, tag)`: true when the JSON list in `column` has an element equal
    to the string `tag` (no wildcards, no escaping, no substring matches)."""

    type = Boolean()
    name = "has_tag"
    inherit_cache = True


@compiles(has_tag)
def _has_tag_sqlite(element: has_tag, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite (and any database without a dialect of its own below): json_each decodes
    # the list; `type = 'text'` keeps a tag "1" from equalling a number 1.
    column, tag = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({column}) AS each_tag "
        f"WHERE each_tag.type = 'text' AND each_tag.value = {tag})"
    )


@compiles(has_tag, "postgresql")
def _has_tag_postgresql(element: has_tag, compiler: SQLCompiler, **kw: Any) -> str:
    # jsonb containment compares decoded strings exactly.
    column, tag = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST({column} AS jsonb) @> jsonb_build_array(CAST({tag} AS text)))"
