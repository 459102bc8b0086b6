"""`python -m sharebus`: the same as the `sharebus` command."""

from sharebus.cli.main import main

main()
