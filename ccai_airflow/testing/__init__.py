"""Testing DAGs that use the provider, against the bundled emulator: the pytest plugin and what it hands a test.

The plugin (:mod:`ccai_airflow.testing.plugin`) is loaded by pytest through the package's ``pytest11``
entry point; tests ask for the ``ccai_emulator`` fixture (a :class:`CcaiEmulator`). See ``docs/testing.md``.
"""

from ccai_airflow.testing.kit import CcaiEmulator

__all__ = ["CcaiEmulator"]
