"""The development bus: the local stack, the sample departments and `sharebus run`."""
