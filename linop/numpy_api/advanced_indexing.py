"""NumPy adapter: advanced_indexing (being written)."""
