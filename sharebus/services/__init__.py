"""Services the CLI calls: each wires routing, delivery and measurement for one job."""
