"""The long-lived services one app instance shares between requests."""

from __future__ import annotations

from dataclasses import dataclass

from staffgraph.auth.passwords import PasswordHasher
from staffgraph.auth.revocation import RevocationStore
from staffgraph.auth.tokens import TokenService
from staffgraph.settings import Settings


@dataclass
class Services:
    """Settings plus the token, password and revocation services built from them."""

    settings: Settings
    tokens: TokenService
    passwords: PasswordHasher
    revocations: RevocationStore

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Build every service from ``settings``; nothing connects until :meth:`start`."""
        return cls(
            settings=settings,
            tokens=TokenService(settings),
            passwords=PasswordHasher(settings.bcrypt_rounds),
            revocations=RevocationStore(settings.access_token_ttl),
        )

    async def start(self) -> None:
        """Connect and load state; the ORM must be initialised already."""
        await self.revocations.start()
        await self.revocations.load()

    async def stop(self) -> None:
        """Release connections and threads."""
        await self.revocations.stop()
        self.passwords.close()
