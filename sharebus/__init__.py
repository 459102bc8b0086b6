"""sharebus: a streaming, event-driven data-sharing bus with incremental sync for city governments."""

__version__ = "0.1.0"
