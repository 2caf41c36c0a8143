"""Rate limits: requests per client (``RATE_LIMIT``) and failed sign-ins (``LOGIN_*``), sharing
one counter storage, in process memory or in Redis."""
