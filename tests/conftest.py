"""The whole suite loads the testing kit's fixtures (the stack, per-test names, topics, consumers)."""

pytest_plugins = ["sharebus.testing.fixtures"]
