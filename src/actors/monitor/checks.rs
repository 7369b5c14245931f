//! Running one check of an `http`, `tcp` or `dns` monitor.
