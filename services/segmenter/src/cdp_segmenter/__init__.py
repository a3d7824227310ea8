"""The CDP segmenter (in progress: the pure logic is here; the runner and stores are not built yet)."""
