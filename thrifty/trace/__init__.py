"""thrifty.trace (see DESIGN.md §6)."""
