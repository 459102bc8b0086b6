"""The `sharebus` command line: one small module per command group."""
