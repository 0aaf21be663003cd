"""NumPy adapter: linalg (being written)."""
