"""District isolation on Kafka: SCRAM principals, ACLs derived from the catalog, and their sync."""
