"""Pure business rules: no FastAPI, no SQL, no I/O, no clock (time is a parameter)."""
