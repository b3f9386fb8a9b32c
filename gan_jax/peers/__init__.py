"""Reference implementations of the seed's recipe in other frameworks (tests and bench only)."""
