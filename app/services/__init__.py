"""Use cases over the domain and the store: what the API (and a host app) can ask TKA to do."""
