"""Loads one model's route inside a process shared by several models, as its own image would.

The "all" image serves every model of a project from one Python process. In a model's own image
the model's folder is first on PYTHONPATH, so its code may import helpers that sit beside it by
bare name (`import features`). In one shared process those names collide: Python caches modules
by name in sys.modules, so the second model to `import features` would silently get the first
model's module. load_model_route imports a route with its model's folder first on sys.path and
with no other model's modules cached, then takes the model's own modules out of sys.modules again,
so that the next model starts from the same state its own image would.

What is isolated: every module imported from a file inside the model folder, whatever its name
(bare `features` or package-qualified `finance_income_prediction.logisticRegression.features`).
What stays shared: modules from outside the folder (the project's shared code such as
common_utils, installed packages, the standard library). Each separate image would load those
same files once too, so one cached copy answers the same.

Limit: isolation covers what is imported while the route loads (module level, a class's
__init__, a module's init). An import that runs lazily inside a function at call time (`def
predict(msg): import features`) runs after sys.path and sys.modules are restored: it sees the
shared process and may fail or get another model's module. Import at module level.

Loading is for start-up, before requests are served: sys.path and sys.modules are process-wide,
so an import running in another thread during a load could see this model's folder.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import threading
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from cortex_s2i_runtime import routes

# Each model folder's own modules (name -> module), out of sys.modules between loads. Holding them
# keeps them alive for the route's functions, whose globals they are, and lets a second route of
# the same model reuse them: in the model's own image its routes share one module.
_model_modules: dict[str, dict[str, ModuleType]] = {}

# A model's names shadow cached modules, except the standard library's: the runtime imported
# those before any model code in the model's own image too, and a second copy of a module such as
# threading would break the process.
_STANDARD_LIBRARY = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(
    sys.builtin_module_names)

# Longest first, so that `x.cpython-311-x86_64-linux-gnu.so` is module `x`, not `x.cpython-311-…`.
_MODULE_SUFFIXES = sorted(importlib.machinery.all_suffixes(), key=len, reverse=True)

_lock = threading.RLock()


def load_model_route(model_folder: str, route_path: str, module: str, function: str, *,
                     environ: Mapping[str, str] | None = None) -> routes.Target:
    """Load the route `route_path` -> `module`.`function` of the model in `model_folder`.

    Returns a callable taking the request payload that behaves as the route does in the model's
    own image: routes.load_target decides the style (class, init+predict module, plain function)
    with the same config (a dict of `environ`, default os.environ), model_path
    (os.path.abspath("models")) and metadata ({"route", "module", "function"}). Raises
    routes.RouteLoadError naming the model folder when the route cannot be loaded, and
    routes.RoutesError when the triple itself is malformed. Only imports done while loading are
    isolated; one done lazily inside a function at call time is not (see the module docstring).
    """
    route = _route(route_path, module, function)
    folder = os.path.abspath(model_folder)
    if not os.path.isdir(folder):
        raise routes.RouteLoadError(route, "model folder %s is not a directory" % folder)
    environ = os.environ if environ is None else environ
    model_path = os.path.abspath("models")

    with _lock:
        own = _model_modules.setdefault(folder, {})
        before = dict(sys.modules)
        saved_path = list(sys.path)
        provided = _top_level_names(folder)
        hidden = {name: mod for name, mod in before.items()
                  if name in own or name.partition(".")[0] in provided}
        for name in hidden:
            del sys.modules[name]
        sys.modules.update(own)
        sys.path.insert(0, folder)
        # The path finder caches directory listings; a folder written a moment ago (tests, a
        # freshly generated project) would otherwise look empty.
        importlib.invalidate_caches()
        try:
            return routes.load_target(route, environ, model_path)
        except routes.RouteLoadError as exc:
            raise routes.RouteLoadError(
                route, "in model folder %s: %s" % (folder, _detail(route, exc))) from exc
        except Exception as exc:
            raise routes.RouteLoadError(route, "in model folder %s: %s: %s"
                                        % (folder, type(exc).__name__, exc)) from exc
        finally:
            # Decided before sys.path is restored: a namespace package's __path__ is recomputed
            # from sys.path, and should be judged as the model saw it.
            for name, mod in list(sys.modules.items()):
                if before.get(name) is mod:
                    continue  # cached before this load and untouched: not the model's
                # Under a name the folder shadows or the model already owns, a module is the
                # model's even when it came from elsewhere: the model's code saw it by that name.
                if name in hidden or name in own or _from_folder(mod, folder):
                    own[name] = mod
                    del sys.modules[name]
            sys.path[:] = saved_path
            sys.modules.update(hidden)


def _route(route_path: Any, module: Any, function: Any) -> routes.Route:
    """The Route the model's own image would build from its ROUTES triple, checked the same way."""
    parts = (route_path, module, function)
    if any(not isinstance(part, str) or ":" in part or "," in part for part in parts):
        raise routes.RoutesError("route %r, module %r, function %r: each must be a string "
                                 "without ':' or ','" % parts)
    (route,) = routes.parse_routes(":".join(parts))
    return route


def _detail(route: routes.Route, exc: Exception) -> str:
    """The reason of a RouteLoadError without its route prefix, which the new error repeats."""
    prefix = str(routes.RouteLoadError(route, ""))
    message = str(exc)
    return message[len(prefix):] if message.startswith(prefix) else message


def _top_level_names(folder: str) -> set[str]:
    """Top-level module names the folder provides: first on sys.path, they import from it."""
    names = set()
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            # A folder without __init__ is only a namespace portion: a regular module of that
            # name elsewhere on PYTHONPATH wins over it in the model's own image too.
            if any(os.path.isfile(os.path.join(path, "__init__" + suffix))
                   for suffix in _MODULE_SUFFIXES):
                names.add(entry)
            continue
        suffix = next((suffix for suffix in _MODULE_SUFFIXES if entry.endswith(suffix)), None)
        if suffix is not None:
            names.add(entry[:-len(suffix)])
    return {name for name in names if name.isidentifier() and name not in _STANDARD_LIBRARY}


def _from_folder(mod: ModuleType, folder: str) -> bool:
    """Whether a module was loaded from a file inside `folder` (a namespace package: all of it)."""
    location = getattr(mod, "__file__", None)
    if isinstance(location, str):
        return _inside(location, folder)
    try:
        parts = [part for part in (getattr(mod, "__path__", None) or ()) if isinstance(part, str)]
    except Exception:  # an unusual __path__ that cannot be iterated: not a folder of files
        return False
    return bool(parts) and all(_inside(part, folder) for part in parts)


def _inside(path: str, folder: str) -> bool:
    # Both spellings: a module's __file__ keeps the sys.path entry it was found through, which may
    # be a symlink of the folder given here, or the other way round.
    for candidate, base in ((os.path.abspath(path), folder),
                            (os.path.realpath(path), os.path.realpath(folder))):
        try:
            if os.path.commonpath([candidate, base]) == base:
                return True
        except ValueError:
            pass
    return False
