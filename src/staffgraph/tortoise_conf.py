"""``TORTOISE_ORM`` for Tortoise's own command line, built from ``STAFFGRAPH_DATABASE_URL``.

After changing a model::

    tortoise -c staffgraph.tortoise_conf.TORTOISE_ORM makemigrations
"""

from __future__ import annotations

from staffgraph.db import tortoise_config
from staffgraph.settings import Settings

# Settings(), not load_settings(): generating a migration needs only the database URL, not
# settings that are fit for production.
TORTOISE_ORM = tortoise_config(Settings().database_url)
