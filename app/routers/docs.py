"""The API's documentation pages, served entirely from this server: Swagger UI and ReDoc
from the assets the pinned ``fastapi-offline`` package installs, the bootstrap as a file of
our own (no inline script), so the pages load with no request leaving the server and a
content security policy of ``'self'`` for scripts (app/middleware.py, DOCS_CSP)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
OWN = Path(__file__).resolve().parent.parent / "templates" / "docs"
STATIC_PREFIX = "/docs/static"

router = APIRouter(include_in_schema=False)

_SWAGGER_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Cartera API</title>
  <link rel="icon" href="{STATIC_PREFIX}/favicon.png">
  <link rel="stylesheet" href="{STATIC_PREFIX}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{STATIC_PREFIX}/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Cartera API</title>
  <link rel="icon" href="{STATIC_PREFIX}/favicon.png">
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="{STATIC_PREFIX}/redoc.standalone.js"></script>
</body>
</html>
"""


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_PAGE)


@router.get("/docs/swagger-init.js")
async def swagger_init() -> FileResponse:
    return FileResponse(OWN / "swagger-init.js", media_type="text/javascript")


@router.get("/docs/oauth2-redirect")
async def swagger_oauth2_redirect() -> FileResponse:
    return FileResponse(OWN / "oauth2-redirect.html", media_type="text/html")


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return HTMLResponse(_REDOC_PAGE)


def static_assets() -> StaticFiles:
    return StaticFiles(directory=ASSETS)
