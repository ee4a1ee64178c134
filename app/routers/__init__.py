"""HTTP only: parse, authorise, call one service, shape the response."""
