"""The embedded adapter: SQLite files (WAL) under one data directory.

Layout: ``control.sqlite3`` (tenants, key hashes); per tenant ``tenants/<id>/tenant.sqlite3``
(catalog, event schemas, people's home regions) and one ``region-<name>.sqlite3`` per region
(event log, quarantine, derived state), so a person's events only ever sit in their region's file.
"""
