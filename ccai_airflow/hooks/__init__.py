"""The hooks: stateless transport over the ``google-cloud-contact-center-insights`` client.

``contact_center_insights`` holds the sync and async hooks, ``calls`` the table of start calls and the
plain reads, ``clients`` which client (Google or the emulator, gRPC or REST), ``shared_state`` what the
triggers of one event loop share.
"""

from ccai_airflow.hooks.contact_center_insights import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook

__all__ = ["ContactCenterInsightsAsyncHook", "ContactCenterInsightsHook"]
