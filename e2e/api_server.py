"""``airflow api-server`` for the e2e deployments, on asyncio's event loop instead of uvloop.

Airflow's API server runs uvicorn's ``auto`` loop, which is uvloop whenever uvloop is installed, and has no
setting for it. The API server's SIGSEGV under the e2e's concurrent runs has the frames of
MagicStack/uvloop#706, a FastAPI segfault that goes away with ``--loop asyncio``; the evidence, and what a
deployment can do, are in docs/install.md. The crash report of e2e/deployment.py shows it if it recurs here.

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
