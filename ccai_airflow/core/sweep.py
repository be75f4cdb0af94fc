"""What one listing of a location says to the waits sleeping on it: who looks now, who sleeps on. No Airflow import.

A Pub/Sub message from Insights says only that something completed (Google documents no payload), so the waits
ask the API what: one ``ListOperations`` of the location (``projects/P/locations/L``) answers for all of them, where
one ``GetOperation`` per wait would cost as many calls as there are waits for every message.

The rule is the safe one: a wait sleeps on only if the listing has just shown its operation **not done**; every
other wait (shown done, or not shown at all: a listing cut short, an operation the list has not caught up with)
looks at its operation itself. So neither the ``done=false`` filter nor the order of the list is relied on: a
server that ignores the filter or lists oldest first costs more pages (up to :func:`page_cap`), never a missed end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from google.longrunning import operations_pb2

from ccai_airflow.core.polling import PollingPolicy

__all__ = ["NOT_DONE_FILTER", "PAGE_SIZE", "SWEEP_POLICY", "Listing", "page_cap"]

# AIP-160's comparison on the Operation's ``done`` field (the emulator serves it: docs/emulator.md's rules table).
NOT_DONE_FILTER = "done=false"
# A page the size of a triggerer's waits of one location; a server may return fewer (AIP-158), which costs pages.
PAGE_SIZE = 1000
# With no message, the waits of a location are still listed now and then, so a lost message costs at most this
# delay (a tenth of the oldest wait's age, 1 to 10 minutes), not the operation.
SWEEP_POLICY = PollingPolicy(initial=60.0, fraction=0.1, maximum=600.0)


def page_cap(waits: int, page_size: int = PAGE_SIZE) -> int:
    """The most pages one listing reads for ``waits`` waits: all of them fit, plus one for what else is running."""
    return math.ceil(max(waits, 1) / page_size) + 1


@dataclass
class Listing:
    """The pages of one listing read so far, against the operations of the waits it answers for."""

    waiting: frozenset[str]
    page_size: int = PAGE_SIZE
    running: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    pages: int = 0

    def add(self, page: operations_pb2.ListOperationsResponse) -> bool:
        """Take one page; True if another page should be read."""
        self.pages += 1
        for operation in page.operations:
            self.seen.add(operation.name)
            if not operation.done:
                self.running.add(operation.name)
        return bool(page.next_page_token) and not self.waiting <= self.seen and self.pages < page_cap(
            len(self.waiting), self.page_size)

    def to_wake(self) -> set[str]:
        """The waits that look now: every one the listing did not just show running."""
        return set(self.waiting - self.running)
