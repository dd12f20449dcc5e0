"""Parses the ROUTES variable and turns each route's target into a callable taking a payload.

ROUTES is a comma-separated list of `route:module:function` triples, e.g.
`adult_income_lr/predict:finance_income_prediction.logisticRegression.predict:predict_adult_income_lr`
(whitespace around a triple is ignored). `route` is a URL path without its leading slash (segments
of letters, digits, `.`, `_`, `~`, `-`), `module` a dotted module name, `function` an identifier.
`health`, `ready` and `metrics` are reserved for the server's own GET endpoints.

A target is detected, in this order, as:

1. a class: instantiated once (per server worker) as `cls(config)`, where `config` is a dict of
   the process environment, i.e. the image's ENV plus `docker run -e/--env-file` values. That is
   what a Cortex predictor's `config` held; it includes any secrets the container was given, so
   predictors must not echo it. Requests call `instance.predict(payload)`.
2. a function named `predict` in a module that also defines a callable `init`: the Cortex module
   style. `init(model_path, metadata)` is called once (per route, per worker) before serving, with
   `model_path` the absolute path of `models` in the working directory (`/action/models`) and
   `metadata` a dict `{"route", "module", "function"}`; requests call `predict(payload, metadata)`
   with that same dict.
3. any other callable: requests call `function(payload)`.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

Target = Callable[[Any], Any]


class Route(NamedTuple):
    path: str
    module: str
    function: str


_SEGMENT = r"[A-Za-z0-9._~-]+"
_ROUTE_PATH = re.compile(r"%s(/%s)*" % (_SEGMENT, _SEGMENT))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_PATHS = ("health", "ready", "metrics")


def is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.fullmatch(name))


def is_module_name(name: str) -> bool:
    """A dotted module name such as `predict` or `finance_income_prediction.common_utils.io`."""
    return all(_IDENTIFIER.fullmatch(part) for part in name.split("."))


class RoutesError(ValueError):
    """ROUTES is malformed; the message names the offending triple."""


class RouteLoadError(RuntimeError):
    """A route's target could not be imported or prepared; the message names route and module."""

    def __init__(self, route: Route, message: str) -> None:
        super().__init__("route %r (module %s, function %s): %s"
                         % (route.path, route.module, route.function, message))
        self.route = route


def parse_routes(value: str | None) -> list[Route]:
    """Parse a ROUTES value into a list of Route; raises RoutesError on the first bad triple."""
    if value is None or not value.strip():
        raise RoutesError("ROUTES is not set; expected comma-separated "
                          "route:module:function triples")
    routes = []
    seen = set()
    for position, raw in enumerate(value.split(","), start=1):
        triple = raw.strip()
        if not triple:
            raise RoutesError("ROUTES entry %d is empty (stray comma?) in %r" % (position, value))
        parts = [part.strip() for part in triple.split(":")]
        if len(parts) != 3:
            raise RoutesError("ROUTES entry %r is not route:module:function (has %d part%s)"
                              % (triple, len(parts), "" if len(parts) == 1 else "s"))
        path, module, function = parts
        path = path.strip("/")
        if not _ROUTE_PATH.fullmatch(path) or any(seg in (".", "..") for seg in path.split("/")):
            raise RoutesError("ROUTES entry %r: route %r is not a URL path of letters, digits, "
                              "'.', '_', '~', '-' separated by '/'" % (triple, parts[0]))
        if path in _RESERVED_PATHS:
            raise RoutesError("ROUTES entry %r: route %r is reserved for GET /%s"
                              % (triple, path, path))
        if not is_module_name(module):
            raise RoutesError("ROUTES entry %r: module %r is not a dotted Python module name"
                              % (triple, module))
        if not is_identifier(function):
            raise RoutesError("ROUTES entry %r: function %r is not a Python identifier"
                              % (triple, function))
        if path in seen:
            raise RoutesError("ROUTES entry %r: route %r is listed twice" % (triple, path))
        seen.add(path)
        routes.append(Route(path, module, function))
    return routes


def _accepts_positional(function: Callable[..., Any], count: int) -> bool:
    try:
        inspect.signature(function).bind(*range(count))
    except TypeError:
        return False
    except ValueError:
        return True  # builtins without a signature: let the call decide
    return True


def load_target(route: Route, environ: Mapping[str, str], model_path: str) -> Target:
    """Import a route's module and return a callable taking the request payload."""
    try:
        module = importlib.import_module(route.module)
    except Exception as exc:
        raise RouteLoadError(route, "cannot import module: %s: %s"
                             % (type(exc).__name__, exc)) from exc
    target = getattr(module, route.function, None)
    if target is None:
        raise RouteLoadError(route, "module %s has no attribute %r (file %s)"
                             % (route.module, route.function, getattr(module, "__file__", "?")))

    if inspect.isclass(target):
        if not callable(getattr(target, "predict", None)):
            raise RouteLoadError(route, "class %s has no predict(self, payload) method"
                                 % route.function)
        try:
            instance = target(dict(environ))
        except Exception as exc:
            raise RouteLoadError(route, "%s(config) raised %s: %s"
                                 % (route.function, type(exc).__name__, exc)) from exc
        predict: Target = instance.predict
        return predict

    if not callable(target):
        raise RouteLoadError(route, "%s.%s is not a function or class (its type is %s)"
                             % (route.module, route.function, type(target).__name__))

    init: Any = getattr(module, "init", None)
    if route.function == "predict" and callable(init):
        if not _accepts_positional(target, 2):
            raise RouteLoadError(route, "module defines init(), so predict must accept "
                                 "(sample, metadata)")
        metadata = {"route": route.path, "module": route.module, "function": route.function}
        try:
            init(model_path, metadata)
        except Exception as exc:
            raise RouteLoadError(route, "init(model_path, metadata) raised %s: %s"
                                 % (type(exc).__name__, exc)) from exc
        found: Any = target  # not None: checked above
        return lambda payload: found(payload, metadata)

    function: Target = target
    return function


def load_routes(routes: list[Route], environ: Mapping[str, str],
                model_path: str | None = None) -> dict[str, Target]:
    """Load every route's target, in order; returns {path: callable}."""
    if model_path is None:
        model_path = os.path.abspath("models")
    return {route.path: load_target(route, environ, model_path) for route in routes}
