"""Fixtures for channel tests: an HTTP client, local fake vendors, a recording sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.vendor_api import FakeVendorApi
from tests.tools.channels.factories import SECRET


class RecordingSleep:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as client:
        yield client


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vendor_api() -> Iterator[Callable[[str], FakeVendorApi]]:
    started: list[FakeVendorApi] = []

    def start(vendor: str, secret: str = SECRET) -> FakeVendorApi:
        api = FakeVendorApi(vendor, secret=secret).__enter__()
        started.append(api)
        return api

    yield start
    for api in started:
        api.__exit__(None, None, None)
