"""Hatchery's HTTP API: FastAPI app, one package per domain, tenant scoping in api/tenancy."""
