"""Offset pagination with a total, shared by every list endpoint.

``PageDep`` parses ``offset``/``limit``; ``paginate`` returns the ``Page``: one page of rows
and the total number of matches, in a single round trip, falling back to a separate count
only when the page is past the end. Repositories call it; routers return what it gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class PageParams:
    offset: int = 0
    limit: int = 50


async def page_params(offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                      limit: Annotated[int, Query(ge=1, le=500)] = 50) -> PageParams:
    return PageParams(offset, limit)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginate(session: Session, query: Select, params: PageParams,
             convert: Callable[[Any], Any] | None = None) -> Page:
    """One page of ``query`` and the total number of matches, in one round trip: the total
    is an uncorrelated scalar subquery, which the database evaluates once, apart from the
    page (so the page can stop after ``limit`` rows of an index).

    A query of one ORM entity gives the entities; a query of columns gives its rows;
    ``convert`` maps each to what the page shows.
    """
    counting = select(func.count()).select_from(query.order_by(None).subquery())
    rows = session.execute(query.add_columns(counting.scalar_subquery().label("_total"))
                           .offset(params.offset).limit(params.limit)).all()
    count = rows[0][-1] if rows else session.scalar(counting)
    columns = query.column_descriptions
    if len(columns) == 1 and columns[0]["type"] is columns[0]["entity"]:
        rows = [row[0] for row in rows]
    items = [convert(row) for row in rows] if convert else list(rows)
    return Page(items=items, total=int(count or 0), offset=params.offset, limit=params.limit)
