"""NumPy adapter: signal (being written)."""
