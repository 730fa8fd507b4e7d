"""Property-based (hypothesis) tests over everything that reads outside input."""
