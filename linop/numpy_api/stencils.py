"""NumPy adapter: stencils (being written)."""
