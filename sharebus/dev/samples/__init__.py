"""Sample department databases (DDL, seeding) and the change generator that drives CDC load."""
