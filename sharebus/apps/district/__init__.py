"""The district side of the bus: sync into a district database, reconcile, backfill."""
