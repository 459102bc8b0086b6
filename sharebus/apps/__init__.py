"""Applications: the worker's wiring, ACL services and the district side."""
