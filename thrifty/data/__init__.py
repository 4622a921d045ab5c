"""thrifty.data (see DESIGN.md §6)."""
