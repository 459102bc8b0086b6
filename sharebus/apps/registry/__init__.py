"""The schema registry service of the bus: the registry (`schemas.registry_server`) with its Kafka
log and the guard that logs principals in against Kafka and limits readers to their subjects."""
