"""thrifty.quant (see DESIGN.md §6)."""
