"""The shell of the fake providers' checkout pages: one self-contained HTML document.

Rules: nothing is loaded from outside (the demo runs offline); the inline style and script
carry a fresh nonce that the page's own Content-Security-Policy allows, so the shop's
security middleware (which keeps a policy a route set) does not block them and nothing
else can run; every value shown is HTML-escaped, and data handed to the script is JSON
with ``<`` escaped so it cannot close the script element.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any

from starlette.responses import HTMLResponse

_STYLE = """
body{font:16px/1.45 system-ui,sans-serif;background:#eef1f5;margin:0;display:flex;
justify-content:center;padding:40px 12px;color:#1c1f24}
main{background:#fff;border-radius:14px;box-shadow:0 2px 14px #0002;padding:28px;
max-width:420px;width:100%}
h1{font-size:20px;margin:0 0 4px}.brand{color:#6b7280;font-size:13px;margin-bottom:18px}
.amount{font-size:30px;font-weight:700;margin:12px 0}.row{color:#4b5563;margin:6px 0}
.status{display:inline-block;padding:2px 10px;border-radius:10px;background:#e5e7eb}
.actions{display:flex;gap:10px;margin-top:22px}button,select{font:inherit;padding:10px 16px;
border-radius:10px;border:1px solid #cbd5e1;background:#fff;cursor:pointer}
button.primary{background:#2563eb;border-color:#2563eb;color:#fff;flex:1}
button:disabled{opacity:.5;cursor:default}#result{margin-top:16px;color:#374151}
.note{margin-top:22px;font-size:12px;color:#9ca3af}
"""


def page_data(data: Any) -> str:
    """JSON safe to embed in an inline script."""
    return json.dumps(data).replace("<", "\\u003c")


def esc(value: Any) -> str:
    return html.escape(str(value))


def checkout_response(title: str, body: str, script: str, *, status: int = 200) -> HTMLResponse:
    """A page with ``body`` (already-escaped HTML) and ``script`` (trusted JS)."""
    nonce = secrets.token_urlsafe(16)
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style nonce={nonce}>{_STYLE}</style></head>"
        f"<body><main>{body}<p class=note>Sandbox checkout — no real money moves.</p></main>"
        f"<script nonce={nonce}>{script}</script></body></html>"
    )
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    return HTMLResponse(
        document,
        status,
        headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"},
    )
