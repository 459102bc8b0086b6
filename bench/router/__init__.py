"""Router throughput and latency benchmark."""
