"""A throwaway Airflow home for a test session, so that ``dag.test()`` runs with nothing set up by hand.

Airflow reads its home when it is first imported, which may be when pytest collects a test module that
imports a DAG: so the environment is set before any conftest or test module loads
(``pytest_load_initial_conftests``), and the metadata database is made when the first test asks for the
emulator. Only what the user has not set is set: a session with ``AIRFLOW_HOME`` of its own keeps that
home, its database and its DAGs folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["AirflowHome"]

# Names the home this plugin made, so that a pytest-xdist worker, which inherits the controller's environment,
# tells it from a user's and makes its own (one database per worker).
MADE_ENV = "CCAI_AIRFLOW_TEST_HOME"


class AirflowHome:
    """The Airflow home of this test process: ``made`` by the plugin, or the user's."""

    def __init__(self, path: str | None, made: bool) -> None:
        self.path = path
        self.made = made
        self._database_ready = False
        self._lock = threading.Lock()

    @classmethod
    def prepare(cls, dags_folder: Path | None) -> AirflowHome:
        """Point ``AIRFLOW_HOME`` at a new temporary directory with SQLite, unless it is set or Airflow is loaded
        already (then its settings are the ones in force); ``dags_folder``, when it exists, is the DAGs folder
        unless one is set."""
        current = os.environ.get("AIRFLOW_HOME")
        if "airflow" in sys.modules or (current and current != os.environ.get(MADE_ENV)):
            return cls(current, made=False)
        home = tempfile.mkdtemp(prefix="ccai-airflow-home-")
        os.environ["AIRFLOW_HOME"] = os.environ[MADE_ENV] = home
        # The home's own database: a throwaway home must not reach a database a shell names.
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        if dags_folder is not None and dags_folder.is_dir():
            os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(dags_folder))
        return cls(home, made=True)

    def ensure_database(self) -> None:
        """A fresh metadata database in a home the plugin made, once per process; a user's home is theirs to
        migrate (``airflow db migrate``)."""
        with self._lock:
            if self._database_ready or not self.made:
                return
            from airflow.utils import db

            db.resetdb()
            self._database_ready = True

    def remove(self) -> None:
        """Delete a home the plugin made (a user's stays)."""
        if self.made and self.path:
            shutil.rmtree(self.path, ignore_errors=True)
