"""Pure logic of the collector: no I/O, no clock reads."""
