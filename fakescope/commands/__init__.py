"""One module per command group; `fakescope.cli` assembles them."""
