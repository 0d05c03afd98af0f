"""The nightly report (HTML file and Prefect markdown); see :mod:`apiflag.report.nightly`."""

from __future__ import annotations

from apiflag.report.nightly import MIN_GROUP, FairnessRow, build_report, fairness_table

__all__ = ["MIN_GROUP", "FairnessRow", "build_report", "fairness_table"]
