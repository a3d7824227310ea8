"""``cdp simulate``: realistic visitor traffic through the collector, for demos, tests and load."""
