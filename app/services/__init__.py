"""Use cases: load → call the domain → persist → audit, inside the request's transaction."""
