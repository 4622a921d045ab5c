"""thrifty.hw (see DESIGN.md §6)."""
