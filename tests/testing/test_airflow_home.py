"""The test kit's throwaway Airflow home: made only where the user has none, one per pytest-xdist worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccai_airflow.testing import airflow_home
from ccai_airflow.testing.airflow_home import MADE_ENV, AirflowHome

pytestmark = pytest.mark.airflow_independent


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """As pytest starts: no Airflow loaded, nothing of the kit's in the environment."""
    for name in ("AIRFLOW_HOME", MADE_ENV, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__DAGS_FOLDER",
                 "AIRFLOW__CORE__LOAD_EXAMPLES"):
        monkeypatch.delenv(name, raising=False)
    modules = dict(airflow_home.sys.modules)
    modules.pop("airflow", None)
    monkeypatch.setattr(airflow_home.sys, "modules", modules)
    return monkeypatch


def test_with_no_home_it_makes_one_with_its_own_database_and_the_dags_folder(
    fresh_process: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = AirflowHome.prepare(tmp_path)

    assert home.made and home.path and Path(home.path).is_dir()
    assert os.environ["AIRFLOW_HOME"] == home.path == os.environ[MADE_ENV]
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home.path}/airflow.db"
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path)
    home.remove()
    assert not Path(home.path).exists()


def test_a_users_home_is_kept_and_never_removed(fresh_process: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fresh_process.setenv("AIRFLOW_HOME", str(tmp_path))

    home = AirflowHome.prepare(tmp_path / "dags")
    home.remove()
    home.ensure_database()

    assert not home.made and home.path == str(tmp_path) and tmp_path.is_dir()
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ


def test_an_xdist_worker_makes_its_own_home_beside_the_one_it_inherited(
    fresh_process: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    controller = AirflowHome.prepare(None)  # the controller's, which a worker's environment carries

    worker = AirflowHome.prepare(None)

    assert worker.made and worker.path != controller.path
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{worker.path}/airflow.db"
    controller.remove()
    worker.remove()


def test_airflow_loaded_already_keeps_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    home = AirflowHome.prepare(None)  # this process has Airflow loaded
    assert not home.made and "AIRFLOW_HOME" not in os.environ
