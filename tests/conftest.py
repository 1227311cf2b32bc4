"""Shared test wiring: fixtures live in tests/fixtures/, one module per concern."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.emulator",
    "tests.fixtures.botapp",
    "tests.fixtures.redis_server",
]

SERVICE_MARKERS = ("postgres", "redis")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_service_items] = [
        item.nodeid for item in items if any(item.get_closest_marker(m) for m in SERVICE_MARKERS)
    ]


_service_items = pytest.StashKey[list[str]]()
_skipped_service: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and any(m in report.keywords for m in SERVICE_MARKERS):
        _skipped_service.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On CI, a skipped PostgreSQL or Redis test is a failure: those services are there."""
    if os.environ.get("CI", "").lower() == "true" and _skipped_service:
        print(f"\nCI=true but {len(_skipped_service)} PostgreSQL/Redis test(s) were skipped:")
        for nodeid in _skipped_service[:20]:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
