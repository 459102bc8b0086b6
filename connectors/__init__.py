"""Capture: Debezium connector templates and the client that registers them with Kafka Connect."""
