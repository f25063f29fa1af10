"""The browser UI is served by the app from the package, with nothing external."""
from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from app.web.ui import STATIC_DIR


def referenced_assets() -> set[str]:
    """Every local URL the page and its modules load (script/link tags, ES imports)."""
    found = set(re.findall(r'(?:src|href)="(/ui/[^"]+)"', (STATIC_DIR / "index.html").read_text()))
    for js in (STATIC_DIR / "js").glob("*.js"):
        found |= {f"/ui/js/{name}" for name in re.findall(r"from '\./([^']+)'", js.read_text())}
    return found


async def test_when_the_page_is_asked_for_then_it_is_served_with_a_self_only_policy(client: TestClient) -> None:
    client.session.headers.pop("Authorization")  # the page is public: it holds no data
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "联动" in await resp.text()


async def test_every_asset_the_page_loads_is_served_locally(client: TestClient) -> None:
    assets = referenced_assets()
    assert "/ui/js/main.js" in assets and "/ui/css/app.css" in assets and "/ui/js/seat.js" in assets
    for url in sorted(assets):
        resp = await client.get(url)
        assert resp.status == 200, url
        kind = resp.headers["Content-Type"]
        assert ("javascript" in kind) if url.endswith(".js") else ("css" in kind), (url, kind)


def test_no_asset_refers_to_another_origin() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            assert not re.search(r"https?://|//cdn|@import url", path.read_text()), f"{path} loads from elsewhere"


async def test_the_static_folder_does_not_serve_outside_itself(client: TestClient) -> None:
    for url in ("/ui/../web.py", "/ui/%2e%2e/web.py", "/ui/js/../../web.py"):
        assert (await client.get(url)).status in (403, 404), url
