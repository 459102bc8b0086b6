"""The local stack: real Kafka, Kafka Connect + Debezium and PostgreSQL, fetched and run as processes."""
