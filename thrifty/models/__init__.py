"""thrifty.models (see DESIGN.md §6)."""
