"""Who you are: tokens, passwords, sessions, OAuth and rate limits."""
