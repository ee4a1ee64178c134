"""Request and response shapes of the API (pydantic), one module per resource."""
