"""The router's pure core: the compiled sharing policy and the on-bus data-quality checks."""
