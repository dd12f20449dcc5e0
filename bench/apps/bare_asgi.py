"""The serving benchmark's bare ASGI app: bare_wsgi.py's JSON echo, for uvicorn."""

import json


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["method"] != "POST":  # bench/serve.sh's /ready poll: not ours to answer
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = json.dumps({"payload": json.loads(body)}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
