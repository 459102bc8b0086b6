"""Helpers of the ops tests: a headless browser, a fast-sampling worker, and a bus to watch."""
