"""Fixtures of the integration tests: the scripted receiver on 127.0.0.1 and a direct store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sidecar.store.direct import DirectStore
from tests.receiver import Receiver, running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running(Receiver()) as state:
        yield state


@pytest.fixture
async def store(db_dsn: str) -> AsyncIterator[DirectStore]:
    s = await DirectStore.connect(db_dsn)
    try:
        yield s
    finally:
        await s.close()
