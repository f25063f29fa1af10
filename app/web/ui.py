"""The browser UI: the dashboard, seat view and admin pages as static files (HTTP layer).

    GET /          app/web/static/index.html (the single page; hash routes #/dashboard, #/seat/1001, #/admin/...)
    GET /ui/...    app/web/static/ (ES modules, CSS) — no build step, no CDN

The files hold no data: they are public, and the page asks for an API token
and then uses the same API as every other client.  The page's
Content-Security-Policy allows only this origin, so nothing external can be
loaded even by mistake.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


routes.static("/ui", STATIC_DIR, append_version=False)
