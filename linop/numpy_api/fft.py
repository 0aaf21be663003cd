"""NumPy adapter: fft (being written)."""
