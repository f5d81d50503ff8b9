"""The lowest layer: helpers every other layer shares. It imports nothing else of fakescope."""
