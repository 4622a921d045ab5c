"""thrifty.numerics (see DESIGN.md §6)."""
