"""Pure logic of the segmenter: identity decisions, profile folding, conditions, scoring."""
