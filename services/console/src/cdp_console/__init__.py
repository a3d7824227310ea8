"""The console: the marketers side of the CDP."""
