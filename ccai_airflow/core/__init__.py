"""The domain core: names, outcomes, polling, one wait and its cost, XCom values, request budget, retries,
the model swap and resume rules. No Airflow import (``tests/core/test_no_airflow.py`` checks it)."""
