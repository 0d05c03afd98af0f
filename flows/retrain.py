"""Deployment entrypoint of the retrain flow: trains and registers a candidate, never promotes."""

from apiflag.orchestration.flows import retrain

__all__ = ["retrain"]

if __name__ == "__main__":
    import sys

    retrain(world=sys.argv[1])
