"""NumPy adapter: selection (being written)."""
