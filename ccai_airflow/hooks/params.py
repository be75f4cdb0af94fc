"""Which hook a task or a trigger talks through: the connection, impersonation chain, transport and endpoint.

One value, so that the sensor, the operators and the trigger hand it on whole (and the trigger serializes
it) instead of passing its four parts one by one. No Airflow import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["HookParams"]


@dataclass(frozen=True)
class HookParams:
    gcp_conn_id: str = "google_cloud_default"
    impersonation_chain: str | Sequence[str] | None = None
    transport: str = "grpc"
    api_endpoint: str | None = None

    def to_kwargs(self) -> dict[str, Any]:
        """The hook's (and the trigger's) keyword arguments, JSON primitives only."""
        chain = self.impersonation_chain
        return {
            "gcp_conn_id": self.gcp_conn_id,
            "impersonation_chain": list(chain) if isinstance(chain, list | tuple) else chain,
            "transport": self.transport,
            "api_endpoint": self.api_endpoint,
        }
