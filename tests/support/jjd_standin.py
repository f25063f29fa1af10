"""A stand-in of a 110 command-centre system that does not run hotline-link:
its own aiohttp process and its own store (a SQLite file), speaking GA-style
field names (接警单编号 JJDBH, 报警电话 BJDH, ... ; 退回 HANDLEOPINION ...;
反馈 CJCZQK, JQCLJGSM, FKSJ ...).

It imports nothing from the project: the signature scheme is written here
from its description (HMAC-SHA256 over method, path, timestamp, nonce and
the body's SHA-256 in hex, one per line; hex digest; the mapping's header
names), so a test against it checks the documented wire format, not our
code against itself.

    python -m tests.support.jjd_standin --port P --db FILE --secret-env VAR --hotline URL --path-name NAME

* `POST /api/jjd/sign|return|feedback` — what hotline-link sends back; the
  signature is checked (401 otherwise) and the document stored as received.
* `POST /control/push` {"jjd": {...}, "secret": optional wrong secret} — push
  a 接警单 to hotline-link at URL/api/federation/peers/NAME/orders, signed;
  answers {"status": ..., "body": ...} as hotline-link answered.
* `GET /control/received` — every document received, oldest first.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import time

import aiohttp
from aiohttp import web

TS, NONCE, SIGN = "X-Jjd-Timestamp", "X-Jjd-Nonce", "X-Jjd-Sign"


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    text = "\n".join((method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def make_app(db: str, secret: str, hotline: str, path_name: str) -> web.Application:
    store = sqlite3.connect(db)
    store.execute("CREATE TABLE IF NOT EXISTS received (id INTEGER PRIMARY KEY, path TEXT, body TEXT, "
                  "caller TEXT, at REAL)")
    store.commit()
    app = web.Application()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        ts, nonce, sign = (request.headers.get(h, "") for h in (TS, NONCE, SIGN))
        if not (ts.isdigit() and abs(int(ts) - time.time()) <= 300 and nonce
                and hmac.compare_digest(signature(secret, request.method, request.path, ts, nonce, body), sign)):
            return web.json_response({"CODE": "401", "MSG": "签名错误"}, status=401)
        store.execute("INSERT INTO received (path, body, caller, at) VALUES (?, ?, ?, ?)",
                      (request.path, body.decode("utf-8"), request.headers.get("X-Hotline-Peer", ""), time.time()))
        store.commit()
        return web.json_response({"CODE": "0", "MSG": "成功"})

    async def push(request: web.Request) -> web.Response:
        wanted = await request.json()
        body = json.dumps(wanted["jjd"], ensure_ascii=False).encode("utf-8")
        path = f"/api/federation/peers/{path_name}/orders"
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {"Content-Type": "application/json", TS: ts, NONCE: nonce,
                   SIGN: signature(wanted.get("secret") or secret, "POST", path, ts, nonce, body)}
        async with aiohttp.ClientSession() as http:
            async with http.post(hotline + path, data=body, headers=headers) as response:
                answer = await response.json(content_type=None)
                return web.json_response({"status": response.status, "body": answer})

    async def received(request: web.Request) -> web.Response:
        rows = store.execute("SELECT path, body, caller FROM received ORDER BY id").fetchall()
        return web.json_response([{"path": p, "body": json.loads(b), "caller": c} for p, b, c in rows])

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    for name in ("sign", "return", "feedback"):
        app.router.add_post(f"/api/jjd/{name}", receive)
    app.router.add_post("/control/push", push)
    app.router.add_get("/control/received", received)
    app.router.add_get("/control/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--secret-env", required=True)
    parser.add_argument("--hotline", required=True)
    parser.add_argument("--path-name", required=True)
    args = parser.parse_args()
    app = make_app(args.db, os.environ[args.secret_env], args.hotline.rstrip("/"), args.path_name)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
