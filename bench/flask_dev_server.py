"""What users of the older tooling ran: Flask's development server (app.run) serving a route.

bench/serve.sh starts it in the predict image itself, by overriding the image's command, so that
it serves the same function with the same libraries as the image's own server. It serves the
first ROUTES triple, answers {"payload": <result>} like the image's server, and runs threaded,
Flask's default since 1.0 and what `app.run(host="0.0.0.0")` in the old tooling gave.
"""

import importlib
import os

from flask import Flask, jsonify, request

route, module, function = [part.strip() for part in os.environ["ROUTES"].split(",")[0].split(":")]
target = getattr(importlib.import_module(module), function)
app = Flask(__name__)


@app.route("/" + route.strip("/"), methods=["POST"])
def predict():
    return jsonify({"payload": target(request.get_json(force=True))})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "5000")), threaded=True)
