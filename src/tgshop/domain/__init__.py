"""Pure business rules: no I/O, no frameworks, no SQLAlchemy."""
