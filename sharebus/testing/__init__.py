"""The testing kit shipped with sharebus: builders of Debezium events, raw records and sample rows,
`wait_until`, and pytest fixtures (`pytest_plugins = ["sharebus.testing.fixtures"]`)."""
