"""The serving benchmark's bare WSGI app: answers any POST with {"payload": <the JSON body>}.

No router, no checks, no logging, no metrics, no deadline: what a server does for a JSON echo,
the figure bench/serve.sh compares the predict server's own overhead against.
"""

import json


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":  # bench/serve.sh's /ready poll: not ours to answer
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.dumps({"payload": json.loads(environ["wsgi.input"].read(length))}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
