"""thrifty.report (see DESIGN.md §6)."""
