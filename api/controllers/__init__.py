"""One controller per area of the API; ``ALL`` is what ``create_app`` registers."""
