"""A local emulator of the Contact Center Insights API (gRPC and REST) for tests and demos."""

from ccai_airflow.emulator.control import EmulatorControl
from ccai_airflow.emulator.server import Emulator

__all__ = ["Emulator", "EmulatorControl"]
