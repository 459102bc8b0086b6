"""Foundations: settings, errors and exit codes, the naming contract, Kafka clients, GB codes, audit."""
