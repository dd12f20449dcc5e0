"""Serves the Cortex APIs of a cortex.yaml project: the list baked into the image, each predictor
in its style.

CORTEX_S2I_APIS names a JSON file (written by the build, lib/plan/cortex-plan.ts) listing the APIs:
`name`, `route` (the endpoint without its slash), `predictor` (the file), `python_path`, `config`,
`model` (a folder under the mounted models) and `monitoring` ({key, model_type} or null).

Each predictor is loaded from its file, as Cortex loaded it, with its python_path first on the
import path, and served in Cortex's shape: the parsed JSON body in, the JSON of what it returns out
(no {"payload": ...} envelope; that stays the contract of ROUTES). Its style is found in its module:
  - a class `PythonPredictor`: instantiated once as `PythonPredictor(config)`, with the API's config
    as given; requests call `predict(payload)`;
  - functions `predict(sample, metadata)` and (optionally) `init(model_path, metadata)`: init is
    called once with `model_path` the API's model folder under the mounted models (the models
    folder itself when the API names none) and `metadata` the config as given.

At run time:
  CORTEX_S2I_API=<name>              serve only that API of the image (a deployment of one API
                                     sets it)
  CORTEX_S2I_PREDICTOR_CONFIG=<file> a JSON object that replaces the served API's config (the
                                     ConfigMap a Kubernetes deployment mounts); with several APIs
                                     served, CORTEX_S2I_API must say which one it is for
Any problem with these stops the server at startup with a message naming it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NamedTuple

from . import monitoring as monitoring_module
from . import routes as routes_module

Target = Callable[[Any], Any]


class Api(NamedTuple):
    name: str
    route: str
    predictor: str
    python_path: str | None
    config: dict[str, Any]
    model: str | None
    monitoring: monitoring_module.ApiMonitoring | None


STYLE_CLASS = "PythonPredictor"
STYLE_MODULE = "predict"


class CortexApisError(ValueError):
    """The API list or a run-time setting is unusable; the message names the file or variable."""


def from_environ(environ: Mapping[str, str]) -> list[Api] | None:
    """The APIs this server serves, or None when the image serves ROUTES instead."""
    path = environ.get("CORTEX_S2I_APIS", "")
    if not path:
        return None
    apis = read_apis(path)
    only = environ.get("CORTEX_S2I_API", "")
    if only:
        apis = [api for api in apis if api.name == only]
        if not apis:
            raise CortexApisError("CORTEX_S2I_API=%s: the image serves no API of that name (it "
                                  "serves %s)" % (only, ", ".join(a.name for a in read_apis(path))))
    config_file = environ.get("CORTEX_S2I_PREDICTOR_CONFIG", "")
    if config_file:
        if len(apis) != 1:
            raise CortexApisError("CORTEX_S2I_PREDICTOR_CONFIG is set but the image serves %d "
                                  "APIs; set CORTEX_S2I_API to the one it is for" % len(apis))
        apis = [apis[0]._replace(config=_read_object(config_file,
                                                     "CORTEX_S2I_PREDICTOR_CONFIG"))]
    return apis


def read_apis(path: str) -> list[Api]:
    entries = _read_json(path, "CORTEX_S2I_APIS")
    if not isinstance(entries, list) or not entries:
        raise CortexApisError("CORTEX_S2I_APIS: %s does not list any API" % path)
    apis = []
    for entry in entries:
        try:
            monitoring = entry.get("monitoring")
            apis.append(Api(
                str(entry["name"]), str(entry["route"]), str(entry["predictor"]),
                entry.get("python_path"), dict(entry.get("config") or {}), entry.get("model"),
                None if not monitoring else monitoring_module.ApiMonitoring(
                    str(entry["name"]), monitoring.get("key"), monitoring["model_type"])))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise CortexApisError("CORTEX_S2I_APIS: %s has an unusable entry %r: %s"
                                  % (path, entry, exc)) from None
    return apis


def _read_json(path: str, variable: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise CortexApisError("%s: cannot read %s: %s" % (variable, path, exc)) from None


def _read_object(path: str, variable: str) -> dict[str, Any]:
    value = _read_json(path, variable)
    if not isinstance(value, dict):
        raise CortexApisError("%s: %s must hold a JSON object, not %s"
                              % (variable, path, type(value).__name__))
    return value


def _route(api: Api, function: str) -> routes_module.Route:
    # Load failures are reported like ROUTES' ones: the route, the file, what was looked for.
    return routes_module.Route(api.route, api.predictor, function)


def _load_module(api: Api) -> ModuleType:
    if api.python_path and api.python_path not in sys.path:
        sys.path.insert(0, api.python_path)
    name = "cortex_api_" + re.sub(r"[^A-Za-z0-9_]", "_", api.name)
    try:
        spec = importlib.util.spec_from_file_location(name, api.predictor)
        if spec is None or spec.loader is None:
            raise ImportError("not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise routes_module.RouteLoadError(_route(api, "?"), "cannot load the predictor: %s: %s"
                                           % (type(exc).__name__, exc)) from exc
    return module


def load_predictor(api: Api, models_dir: str) -> Target:
    """Load one API's predictor; returns a callable from the request payload to the answer."""
    module = _load_module(api)
    cls = getattr(module, STYLE_CLASS, None)
    if inspect.isclass(cls):
        if not callable(getattr(cls, "predict", None)):
            raise routes_module.RouteLoadError(_route(api, STYLE_CLASS),
                                               "PythonPredictor has no predict(self, payload)")
        try:
            predict: Target = cls(api.config).predict
            return predict
        except Exception as exc:
            raise routes_module.RouteLoadError(_route(api, STYLE_CLASS), "PythonPredictor(config) "
                                               "raised %s: %s" % (type(exc).__name__, exc)) from exc
    function = getattr(module, STYLE_MODULE, None)
    if not callable(function):
        raise routes_module.RouteLoadError(_route(api, STYLE_MODULE), "the predictor defines "
                                           "neither a PythonPredictor class nor predict(sample, "
                                           "metadata)")
    metadata = api.config
    init: Any = getattr(module, "init", None)
    if callable(init):
        model_path = os.path.join(models_dir, api.model) if api.model else models_dir
        try:
            init(model_path, metadata)
        except Exception as exc:
            raise routes_module.RouteLoadError(_route(api, "init"), "init(model_path, metadata) "
                                               "raised %s: %s" % (type(exc).__name__, exc)) from exc
    found: Any = function  # not None: checked above
    return lambda sample: found(sample, metadata)


def load(apis: list[Api], models_dir: str | None = None,
         monitor: monitoring_module.PredictionMonitor | None = None) -> dict[str, Target]:
    """Every API's predictor by route, in order; each answer is counted by `monitor` when given."""
    if models_dir is None:
        models_dir = os.path.abspath("models")
    targets: dict[str, Target] = {}
    for api in apis:
        target = load_predictor(api, models_dir)
        if monitor is not None and api.monitoring is not None:
            target = _monitored(target, monitor, api.name)
        targets[api.route] = target
    return targets


def _monitored(target: Target, monitor: monitoring_module.PredictionMonitor,
               name: str) -> Target:
    def call(payload: Any) -> Any:
        answer = target(payload)
        monitor.observe(name, answer)
        return answer
    return call
