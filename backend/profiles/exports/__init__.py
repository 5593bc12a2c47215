"""Exports of a brand's profiles as CSV or NDJSON files written by a job (service, SQL, REST
routes, REST shapes and GraphQL)."""
