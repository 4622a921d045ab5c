"""thrifty.train (see DESIGN.md §6)."""
