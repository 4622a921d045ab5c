"""Hardware cost models read by the simulator: PE area (iso-area scaling) and per-event energy."""
