"""GraphiQL's files, shipped in the package and served under ``/graphql/assets/``.

The vendored files (``staffgraph/graphiql/vendor/``, refreshed by
``scripts/refresh-graphiql-assets``) keep their package version in their path; the page's own
script and stylesheet carry a hash of their content in their name. Either way a URL never
changes meaning, so every asset is cacheable for a year and marked immutable, and each is
referenced with its Subresource Integrity hash.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ASSET_DIR = Path(__file__).resolve().parent.parent / "graphiql"
VENDOR_DIR = ASSET_DIR / "vendor"
ASSET_PATH = "/graphql/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
#: the page's own files, loaded after the vendored ones
OWN_FILES = ("panel.css", "panel.js")


def integrity_of(data: bytes) -> str:
    """The Subresource Integrity value (sha384) of ``data``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@dataclass(frozen=True)
class Asset:
    """One served file: its name under :data:`ASSET_PATH`, content and integrity."""

    name: str
    body: bytes = field(repr=False)
    content_type: str
    integrity: str

    @property
    def url(self) -> str:
        """The path the page loads it from."""
        return ASSET_PATH + self.name

    @functools.cached_property
    def gzipped(self) -> bytes:
        """The body compressed once, on first request (GraphiQL's script is 3.5 MB)."""
        return gzip.compress(self.body, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class AssetSet:
    """Every asset, in the order the page loads them."""

    assets: tuple[Asset, ...]

    @functools.cached_property
    def by_name(self) -> dict[str, Asset]:
        """Assets by their name under :data:`ASSET_PATH`."""
        return {asset.name: asset for asset in self.assets}

    def of_type(self, suffix: str) -> list[Asset]:
        """The ``.js`` or ``.css`` assets, in load order."""
        return [asset for asset in self.assets if asset.name.endswith(suffix)]


class AssetsChanged(RuntimeError):
    """A vendored file no longer matches the integrity its manifest records."""


@functools.cache
def load_assets() -> AssetSet:
    """Read the manifest and every file once per process, checking each vendored file."""
    manifest = json.loads((VENDOR_DIR / "manifest.json").read_text(encoding="utf-8"))
    assets = []
    for entry in manifest["files"]:
        body = (VENDOR_DIR / entry["path"]).read_bytes()
        if integrity_of(body) != entry["integrity"]:
            raise AssetsChanged(
                f"{entry['path']} does not match vendor/manifest.json: "
                "run scripts/refresh-graphiql-assets"
            )
        suffix = Path(entry["path"]).suffix
        assets.append(
            Asset("vendor/" + entry["path"], body, CONTENT_TYPES[suffix], entry["integrity"])
        )
    for file_name in OWN_FILES:
        body = (ASSET_DIR / file_name).read_bytes()
        path = Path(file_name)
        name = f"{path.stem}.{hashlib.sha256(body).hexdigest()[:16]}{path.suffix}"
        assets.append(Asset(name, body, CONTENT_TYPES[path.suffix], integrity_of(body)))
    return AssetSet(tuple(assets))


async def serve_asset(request: Request) -> Response:
    """``GET /graphql/assets/{name}``: the file, cached for a year; 404 for any other name."""
    asset = load_assets().by_name.get(request.path_params["name"])
    if asset is None:
        raise HTTPException(404, "No such GraphiQL asset")
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.content_type, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def asset_routes() -> list[Route]:
    """The assets route, for an app that serves GraphiQL (the files are read and checked now,
    so a damaged copy stops the start instead of the page)."""
    load_assets()
    return [Route(ASSET_PATH + "{name:path}", serve_asset, methods=["GET"])]
