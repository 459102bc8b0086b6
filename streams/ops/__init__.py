"""Operating the bus: consumer lag with Burrow-style status, throughput, latency, dead letters and
connector health, served by the worker as JSON, Prometheus metrics and a dashboard."""
