"""Async business logic the schema calls; no strawberry decorators here."""
