"""What a listing of a location tells the waits on it (core/sweep.py): who looks, who sleeps on, how many pages."""

from __future__ import annotations

import pytest
from google.longrunning import operations_pb2

from ccai_airflow.core.sweep import PAGE_SIZE, SWEEP_POLICY, Listing, page_cap

pytestmark = pytest.mark.airflow_independent

OPS = "projects/p/locations/l/operations/"


def page(*ops: tuple[str, bool], token: str = "") -> operations_pb2.ListOperationsResponse:
    return operations_pb2.ListOperationsResponse(
        operations=[operations_pb2.Operation(name=OPS + name, done=done) for name, done in ops], next_page_token=token)


def test_only_a_wait_shown_running_sleeps_on() -> None:
    listing = Listing(frozenset({OPS + "1", OPS + "2", OPS + "3"}))

    assert listing.add(page(("1", False), ("2", True), ("9", False), token="x")) is True  # "3" not seen yet
    # "2" shown done, "3" never shown (the list cut short or behind): both look; "1" sleeps on.
    assert listing.to_wake() == {OPS + "2", OPS + "3"}


def test_a_server_that_ignores_the_filter_gives_the_same_answer() -> None:
    filtered, ignored = Listing(frozenset({OPS + "1", OPS + "2"})), Listing(frozenset({OPS + "1", OPS + "2"}))

    filtered.add(page(("1", False)))
    ignored.add(page(("0", True), ("1", False), ("2", True)))

    assert filtered.to_wake() == ignored.to_wake() == {OPS + "2"}


def test_paging_stops_when_every_wait_was_seen_or_at_the_cap() -> None:
    seen_all = Listing(frozenset({OPS + "1"}))
    assert seen_all.add(page(("1", False), token="more")) is False  # nothing left to learn for the waits

    capped = Listing(frozenset({OPS + "1", OPS + "2"}), page_size=1)
    assert page_cap(2, 1) == 3
    assert [capped.add(page((f"x{i}", False), token="more")) for i in range(3)] == [True, True, False]
    assert capped.pages == 3 and capped.to_wake() == {OPS + "1", OPS + "2"}

    assert Listing(frozenset({OPS + "1", OPS + "2"})).add(page(("1", False))) is False  # the last page


def test_page_cap_fits_the_waits_and_one_more_page() -> None:
    assert page_cap(0) == page_cap(1) == page_cap(PAGE_SIZE) == 2
    assert page_cap(PAGE_SIZE + 1) == 3


def test_listings_without_messages_come_every_minute_to_every_ten() -> None:
    assert SWEEP_POLICY.delay(0) == 60.0
    assert SWEEP_POLICY.delay(3600) == 360.0
    assert SWEEP_POLICY.delay(6 * 3600) == 600.0
