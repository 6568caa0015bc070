"""Substring search that works for Chinese, on both databases.

Chinese has no spaces between words, so word-based full-text search finds nothing for 苹果 in
烟台红富士苹果. The `product_search` table (raw SQL in migration 0002) keeps one text body per
product: an FTS5 table with the trigram tokenizer on SQLite, a table with a pg_trgm GIN index
on PostgreSQL. Both answer `LIKE '%term%'`-style queries from the index. `products.py`
rewrites a product's row in the same transaction as every change to the product.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, ColumnElement, Select, Text, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog.models import Product
from linli.db import escape_like
from linli.errors import ValidationFailed
from linli.i18n import N_

product_search = table(
    "product_search",
    column("product_id", BigInteger),
    column("body", Text),
)

MAX_TERMS = 5
TRIGRAM = 3
_WILDCARDS = ("\\", "%", "_")


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def terms(query: str) -> list[str]:
    """The words of a query (every one must match), without repeats."""
    seen: list[str] = []
    for word in query.split():
        if word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def _matches(term: str, dialect: str) -> ColumnElement[bool]:
    body = product_search.c.body
    if dialect == "postgresql":
        # The gin_trgm_ops index answers ILIKE (case-insensitive, like the SQLite side).
        return body.ilike(f"%{escape_like(term)}%", escape="\\")
    if len(term) >= TRIGRAM and not any(w in term for w in _WILDCARDS):
        # FTS5 hands LIKE to the trigram index only without an ESCAPE clause; a term without
        # wildcard characters needs none and means the same.
        return body.like(f"%{term}%")
    # Shorter terms scan the table, which LIKE ... ESCAPE makes SQLite do. (Without ESCAPE,
    # SQLite 3.40's FTS5 answers a 2-character Chinese term from the index, counting bytes
    # rather than characters, and finds nothing: 苹果 would miss 烟台红富士苹果.)
    return body.like(f"%{escape_like(term)}%", escape="\\")


def matching_product_ids(query: str, dialect: str) -> Select[int] | None:
    """Ids of products whose text contains every term of `query`; None for an empty query."""
    words = terms(query)
    if not words:
        return None
    return select(product_search.c.product_id).where(*(_matches(w, dialect) for w in words))


def body_of(product: Product, category_names: Iterable[str], merchant_name: str) -> str:
    """What a product is found by: its own text, its categories' names, its merchant."""
    parts = [product.name, product.description, product.origin, *category_names, merchant_name]
    return "\n".join(p for p in parts if p)


async def index(session: AsyncSession, product_id: int, body: str) -> None:
    """Insert or replace the product's search row (in the caller's transaction)."""
    params = {"id": product_id, "body": body}
    if dialect_of(session) == "sqlite":
        # The FTS5 rowid is the product id, so replacing a row is an indexed lookup.
        await session.execute(text("DELETE FROM product_search WHERE rowid = :id"), params)
        await session.execute(
            text("INSERT INTO product_search (rowid, product_id, body) VALUES (:id, :id, :body)"),
            params,
        )
        return
    await session.execute(
        text(
            "INSERT INTO product_search (product_id, body) VALUES (:id, :body) "
            "ON CONFLICT (product_id) DO UPDATE SET body = EXCLUDED.body"
        ),
        params,
    )


def clean_query(q: str) -> str:
    """Search text is plain text: control characters are refused like everywhere else."""
    if any(ord(c) < 32 or ord(c) == 127 for c in q):
        raise ValidationFailed(
            N_("Some fields need attention."),
            fields={"q": N_("Control characters are not allowed.")},
        )
    return q.strip()
