"""``airflow api-server`` for the e2e deployments, on asyncio's event loop instead of uvloop.

Airflow's API server runs ``uvicorn.run`` with uvicorn's ``auto`` loop, which is uvloop whenever uvloop is
installed (it is, through ``uvicorn[standard]``), and Airflow has no setting for the loop. The e2e API server
died of SIGSEGV in about one run in three under the 50 concurrent runs, with the crashing thread on the event
loop in Starlette's ``BaseHTTPMiddleware`` reading a request body: the frames of MagicStack/uvloop#706, a
FastAPI segfault that its reporters saw go away with ``--loop asyncio``. The crash is in neither Airflow's
nor our code, so the deployments the e2e checks our provider on run the API server on asyncio's loop (what
uvicorn runs when uvloop is absent), and the crash report of e2e/deployment.py shows it if it ever recurs.
docs/install.md says what a deployment can do about it.

With the API server's default of one worker, uvicorn serves in this process, where the choice below holds.
"""

from __future__ import annotations

import sys

import uvicorn.config


def use_asyncio_loop() -> None:
    """Make uvicorn's ``auto`` loop asyncio's, for the servers this process starts."""
    uvicorn.config.LOOP_FACTORIES["auto"] = uvicorn.config.LOOP_FACTORIES["asyncio"]


def main(argv: list[str]) -> None:
    use_asyncio_loop()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "api-server", *argv]
    airflow_main()


if __name__ == "__main__":
    main(sys.argv[1:])
