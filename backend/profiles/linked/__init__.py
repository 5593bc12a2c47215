"""Linked tables: brand-defined tables around the profile, their rows and the rows' history
(service, SQL, REST routes, REST shapes and GraphQL)."""
