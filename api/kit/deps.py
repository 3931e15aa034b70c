"""Request-scoped dependencies: settings, the database session (one commit per request) and
the object store, as ``Annotated`` aliases for endpoint signatures.

Dependencies that do no I/O are ``async`` so they run on the event loop instead of costing
a thread-pool hop each. The session is opened without a connection; its commit and close
run in a thread of their own limiter (never waiting for the request thread pool), so a
request holding a connection can always finish and give it back under any load.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.kit.settings import Settings
from api.kit.storage import ObjectStore

SESSION_EXIT_THREADS = 8
SAFE_METHODS = frozenset({"GET", "HEAD"})


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request: commit at the end, roll back on any error.

    GET and HEAD requests read on autocommit connections: when they changed nothing, the
    session is closed right on the event loop (no I/O, no thread hop); so is a session whose
    endpoint already committed (job submit commits before it publishes).
    """
    state = request.app.state
    read_only = request.method in SAFE_METHODS
    session = (state.read_session_factory if read_only else state.session_factory)()
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(_finish, session, False, limiter=state.session_exit)
        raise
    unchanged = not (session.new or session.dirty or session.deleted)
    if unchanged and (read_only or not session.in_transaction()):
        session.close()  # nothing to commit: no I/O, no thread hop
        return
    await anyio.to_thread.run_sync(_finish, session, True, limiter=state.session_exit)


async def get_store(request: Request) -> ObjectStore:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the commit happens before the response is sent, so a failed commit is
# an error response rather than a success that was not kept.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
