"""Keyset-free offset pagination with a total, shared by every list endpoint."""

from __future__ import annotations

from typing import Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    offset: int
    limit: int


class PageParams:
    def __init__(self, offset: int = Query(0, ge=0, le=10_000_000),
                 limit: int = Query(50, ge=1, le=500)) -> None:
        self.offset = offset
        self.limit = limit


def paginate(session: Session, query: Select, params: PageParams) -> tuple[list, int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(session.scalars(query.offset(params.offset).limit(params.limit)))
    return rows, int(total or 0)
