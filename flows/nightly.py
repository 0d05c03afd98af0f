"""Deployment entrypoint of the nightly flow (see flows/prefect.yaml).

The flow itself lives in apiflag.orchestration.flows so the installed command can run it.
Run once by hand: `apiflag run --night YYYY-MM-DD`; serve on a schedule: `apiflag serve`.
"""

from apiflag.orchestration.flows import nightly

__all__ = ["nightly"]

if __name__ == "__main__":
    import sys

    nightly(source=sys.argv[1], casedb_url=sys.argv[2])
