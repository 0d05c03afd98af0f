"""Deployment entrypoint of the retention flow: masks after the masking period, deletes after the maximum."""

from apiflag.orchestration.flows import retention

__all__ = ["retention"]

if __name__ == "__main__":
    retention()
