"""Prefect flows: nightly, retrain and retention.

The flows only wire the plain stage functions of :mod:`apiflag.pipeline`,
:mod:`apiflag.model` and :mod:`apiflag.privacy` together as tasks, add retries on I/O and publish
artifacts. They live inside the package so the installed ``apiflag`` command can run them;
``flows/*.py`` are the deployment entrypoints ``flows/prefect.yaml`` names.
"""

from __future__ import annotations
