"""The trigger a user would otherwise write, built as the Google provider's triggers are (the peer of
``make bench-deployment``): a new async client (and gRPC channel) per trigger, a fixed 10 s interval,
no shared budget, no in-flight cap, ``get_operation`` through the client's operations API.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class PeerOperationTrigger(BaseTrigger):
    def __init__(self, operation_name: str, poll_interval: float = 10.0) -> None:
        super().__init__()
        self.operation_name = operation_name
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("benchmarks.peer_trigger.PeerOperationTrigger",
                {"operation_name": self.operation_name, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import grpc
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.contact_center_insights_v1 import ContactCenterInsightsAsyncClient
        from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
            ContactCenterInsightsGrpcAsyncIOTransport,
        )

        # As a provider hook's get_async_client() per trigger: a client of its own, here on the emulator.
        channel = grpc.aio.insecure_channel(os.environ["CONTACT_CENTER_INSIGHTS_EMULATOR_HOST"])
        client = ContactCenterInsightsAsyncClient(
            transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel, credentials=AnonymousCredentials()),
        )
        try:
            while True:
                operation = await client.get_operation(request={"name": self.operation_name})
                if operation.done:
                    yield TriggerEvent({"status": "error" if operation.HasField("error") else "success",
                                        "operation_name": self.operation_name})
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            await channel.close()
