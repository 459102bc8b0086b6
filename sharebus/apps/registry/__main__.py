"""`python -m sharebus.apps.registry`: the bus's schema registry (see service.py)."""

from sharebus.apps.registry.service import main

main()
