"""A tenant's region file: ``SqliteRegionPartition`` (in ``partition``) and the modules it
delegates to, one job each: ``tables`` (the DDL), ``writer`` (one transaction's writes),
``event_log``, ``derived_state``, ``person_reads``, ``person_versions``, ``quarantine`` and
``decision_traces``."""

from relevo.adapters.sqlite.region.partition import SqliteRegionPartition
from relevo.adapters.sqlite.region.tables import MIGRATIONS

__all__ = ["MIGRATIONS", "SqliteRegionPartition"]
