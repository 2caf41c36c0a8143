"""staffgraph: a staff-directory GraphQL API whose sensitive fields are guarded field by field."""

__version__ = "0.1.0"
