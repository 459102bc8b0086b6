"""The router: Faust agents that deliver each change to the subscribers entitled to it."""
