"""Lays a raw s2i source out the way cortex-s2i builds do, for builds by the stock s2i tool.

`s2i build <source> <builder> <image>` hands the builder's assemble script the source as it is, in
/tmp/src: a model folder, or a project root with the model named by CORTEX_S2I_MODEL (given with
`-e`). This module, run by assemble, does what the cortex-s2i CLI does before a build:

- `layout`: copies the source into /opt/program/<package path>/..., leaving out what never goes
  into an image (dot files such as .env and .s2i, data/ and models/ folders, other models' folders,
  compiled Python, .cortexignore matches, and, outside the model's folder, folders without Python
  code); links the left-out models/ folders of the model's package to the mounted models; and
  writes /opt/cortex-s2i/layout/env.sh, which the run scripts read: PYTHONPATH with the import
  roots (the model's folder, each folder above it, /opt/program) and the model's .s2i/environment.
  The package path comes from the module names of ROUTES and TRAIN_MODULE: a model folder sent
  alone whose ROUTES name `pkg.model.predict` for its predict.py is laid out as pkg/model.
- `check`: after the dependencies are installed, reads (never runs) the model's code and fails
  when a module it imports is neither in the layout nor installed, naming file and line: a model
  folder sent alone has none of the code around it, such as its package's common_utils.

Exits 2 with a message on stderr when the source cannot be laid out or an import is missing.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, TextIO

PROGRAM_DIR = "/opt/program"
LAYOUT_DIR = "/opt/cortex-s2i/layout"
MODELS_LINK = "/opt/cortex-s2i/models"
# s2i build (not --as-dockerfile) reads labels for the image it commits from this file.
S2I_METADATA = "/tmp/.s2i/image_metadata.json"
MODEL_KEY = "CORTEX_S2I_MODEL"
PROJECT_KEY = "CORTEX_S2I_PROJECT"
# Used as the package path when no module name says where the source belongs.
DEFAULT_PROJECT = "project"
ENTRY_KEYS = ("ROUTES", "TRAIN_MODULE", "TRAIN_FUNCTION", "PREDICT_MODULE", "PREDICT_FUNCTION")
NEVER_DIRS = ("data", "models", "__pycache__", "node_modules")
NEVER_FILES = ("*.pyc", "*.pyo", "*.pyd", "cortex.yaml")
EXIT_FAILED = 2


class LayoutError(Exception):
    """The source cannot be laid out; the message says why and what to do."""


def parse_environment(text: str) -> list[tuple[str, str]]:
    """KEY=VALUE lines as s2i reads them (# comments, blank lines), quotes around a value dropped.
    """
    entries: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key:
            entries.append((key, value))
    return entries


def entry_modules(env: Mapping[str, str]) -> list[str]:
    """The modules ROUTES and TRAIN_MODULE name."""
    modules: list[str] = []
    for triple in (env.get("ROUTES") or "").split(","):
        parts = triple.strip().split(":")
        if len(parts) == 3 and parts[1].strip():
            modules.append(parts[1].strip())
    if (env.get("TRAIN_MODULE") or "").strip():
        modules.append(env["TRAIN_MODULE"].strip())
    return modules


def model_path(value: str | None) -> str:
    """CORTEX_S2I_MODEL as a relative posix path inside the source ('' for the source itself)."""
    parts = [p for p in (value or "").replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise LayoutError("%s=%s leaves the source: name a folder inside it" % (MODEL_KEY, value))
    return "/".join(parts)


def read_ignore(path: str) -> list[str]:
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f
                if line.strip() and not line.strip().startswith(("#", "!"))]


def ignored(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    """A .cortexignore match, gitignore-style for the common forms (name, dir/, /anchored, globs).
    """
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        anchored = pattern.startswith("/") or "/" in pattern
        pattern = pattern.lstrip("/")
        if fnmatch.fnmatchcase(rel if anchored else name, pattern):
            return True
    return False


def has_python(path: str) -> bool:
    for _dirpath, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in NEVER_DIRS]
        if any(f.endswith(".py") for f in files):
            return True
    return False


def select(src: str, model: str
           ) -> tuple[list[str], list[str], list[str], list[tuple[str, str]]]:
    """(files, links, models_dirs, left_out) of the source, as paths relative to it."""
    patterns = read_ignore(os.path.join(src, ".cortexignore"))
    if model:
        patterns += read_ignore(os.path.join(src, model, ".cortexignore"))
    files: list[str] = []
    links: list[str] = []
    models_dirs: list[str] = []
    left_out: list[tuple[str, str]] = []
    model_prefix = model + "/" if model else ""
    for dirpath, dirs, names in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        in_model = not model or rel_dir == model or rel_dir.startswith(model_prefix)
        keep = []
        for d in sorted(dirs):
            rel = rel_dir + "/" + d if rel_dir else d
            full = os.path.join(dirpath, d)
            on_the_way = model == rel or model.startswith(rel + "/")
            if d.startswith("."):
                left_out.append((rel, "dot folder"))
            elif d in NEVER_DIRS:
                left_out.append((rel, d if d in ("data", "models") else "never sent"))
                # The models/ of the model's folder or of a package above it: code reading
                # package-relative models/ finds the mounted models, as in images cortex-s2i builds.
                if d == "models" and (rel_dir == model or model.startswith(rel_dir + "/")
                                      or rel_dir == ""):
                    models_dirs.append(rel)
            elif os.path.islink(full):
                links.append(rel)
            elif ignored(rel, True, patterns):
                left_out.append((rel, ".cortexignore"))
            elif not on_the_way and os.path.isfile(os.path.join(full, ".s2i", "environment")):
                left_out.append((rel, "other model"))
            elif not in_model and not on_the_way and not has_python(full):
                left_out.append((rel, "no Python code"))
            else:
                keep.append(d)
        dirs[:] = keep
        for n in sorted(names):
            rel = rel_dir + "/" + n if rel_dir else n
            if n.startswith("."):
                left_out.append((rel, "dot file"))
            elif any(fnmatch.fnmatchcase(n, p) for p in NEVER_FILES):
                left_out.append((rel, "never sent"))
            elif ignored(rel, False, patterns):
                left_out.append((rel, ".cortexignore"))
            elif os.path.islink(os.path.join(dirpath, n)):
                links.append(rel)
            else:
                files.append(rel)
    return files, links, models_dirs, left_out


def module_files(rel_paths: list[str]) -> list[list[str]]:
    """Module name parts of each Python file: a/b.py -> [a, b], a/__init__.py -> [a]."""
    out = []
    for rel in rel_paths:
        if not rel.endswith(".py"):
            continue
        parts = rel[:-3].split("/")
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            out.append(parts)
    return out


def package_path(modules: list[str], files: list[str], model: str) -> list[str] | None:
    """The folders above the source in the image that the entry modules' names need, or None.

    A file whose module name parts end the wanted name places the source: `pkg.model.predict`
    found as predict.py of a model folder sent alone puts that folder at pkg/model. A file that
    already carries the whole name under an import root of the source needs nothing above it.
    """
    model_parts = model.split("/") if model else []
    found = module_files(files)
    for module in modules:
        wanted = module.split(".")
        k = len(wanted)
        if any(len(parts) >= k and parts[len(parts) - k:] == wanted
               and model_parts[:len(parts) - k] == parts[:len(parts) - k] for parts in found):
            continue
        for parts in sorted(found, key=len, reverse=True):
            if len(parts) < k and wanted[k - len(parts):] == parts:
                return wanted[: k - len(parts)]
    return None


def import_roots(prefix: list[str], model: str) -> list[str]:
    """Image folders of PYTHONPATH, as cortex-s2i sets it: the model's folder, each one up,
    /opt/program."""
    parts = prefix + (model.split("/") if model else [])
    return ([PROGRAM_DIR + "/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]
            + [PROGRAM_DIR])


class _Has(Protocol):
    def __call__(self, path: str, is_dir: bool = False, /) -> bool: ...


def resolves(module: str, roots: list[str], has: _Has, namespace: bool = False) -> bool:
    """Whether `module` is a file (or, with namespace, also a folder) under one of the roots."""
    parts = module.split(".")
    for root in roots:
        base = root + "/" + "/".join(parts)
        if has(base + ".py") or has(base + "/__init__.py") or (namespace and has(base, True)):
            return True
    return False


def route_paths(env: Mapping[str, str]) -> list[str]:
    return [t.strip().split(":")[0] for t in (env.get("ROUTES") or "").split(",")
            if t.count(":") == 2]


def layout(src: str, program: str = PROGRAM_DIR, layout_dir: str = LAYOUT_DIR,
           environ: Mapping[str, str] | None = None, out: TextIO = sys.stdout,
           metadata: str = S2I_METADATA) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    model = model_path(environ.get(MODEL_KEY))
    model_dir = os.path.join(src, model) if model else src
    if not os.path.isdir(model_dir):
        raise LayoutError("%s=%s: the source has no such folder" % (MODEL_KEY, model))
    env_file = os.path.join(model_dir, ".s2i", "environment")
    if not os.path.isfile(env_file):
        hint = ("name the model folder with -e %s=<path/to/model>" % MODEL_KEY) if not model else \
            "the model folder needs a .s2i/environment naming ROUTES or TRAIN_MODULE"
        raise LayoutError("%s has no .s2i/environment: %s" % (model or "the source", hint))
    with open(env_file, encoding="utf-8", errors="replace") as f:
        entries = parse_environment(f.read())
    # `s2i build -e KEY=VALUE` reaches assemble as its environment and wins over the file.
    entries = [(k, environ.get(k, v)) for k, v in entries]
    entries += [(k, environ[k]) for k in ENTRY_KEYS if k in environ and k not in dict(entries)]
    env = dict(entries)
    modules = entry_modules(env)
    if not modules:
        raise LayoutError("%s/.s2i/environment sets neither ROUTES nor TRAIN_MODULE"
                          % (model or "."))

    files, links, models_dirs, left_out = select(src, model)
    given = [p for p in (environ.get(PROJECT_KEY) or "").split("/") if p]
    prefix = given or package_path(modules, files, model) or [DEFAULT_PROJECT]
    top = os.path.join(program, *prefix)
    for rel in files:
        dest = os.path.join(top, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(src, rel), dest)
    for rel in links:
        # Links stay links only when they end inside what is copied.
        target = os.readlink(os.path.join(src, rel))
        resolved = os.path.normpath(os.path.join(os.path.dirname(rel), target)).replace(os.sep, "/")
        if os.path.isabs(target) or resolved.startswith("..") or not any(
                f == resolved or f.startswith(resolved + "/") for f in files):
            left_out.append((rel, "link leaving what is sent"))
            continue
        dest = os.path.join(top, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.symlink(target, dest)
    for rel in models_dirs:
        dest = os.path.join(top, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.symlink(MODELS_LINK, dest)

    roots = [program + r[len(PROGRAM_DIR):] for r in import_roots(prefix, model)]
    in_image: set[str] = set()
    for rel in files:
        in_image.add(os.path.join(top, rel))
    dirs_in_image = {os.path.dirname(p) for p in in_image}
    dirs_in_image |= {d for p in list(dirs_in_image) for d in ancestors(p)}

    def has(p: str, is_dir: bool = False) -> bool:
        return p in (dirs_in_image if is_dir else in_image)
    missing = [m for m in modules if not resolves(m, roots, has)]
    if missing:
        raise LayoutError("%s: not in what was sent (import roots %s); %s" % (
            ", ".join(missing), ":".join(roots), send_root_hint(model)))

    os.makedirs(layout_dir, exist_ok=True)
    user_path = env.pop("PYTHONPATH", "")
    with open(os.path.join(layout_dir, "env.sh"), "w", encoding="utf-8") as f:
        f.write("# Written by assemble: the model's .s2i/environment and its import roots.\n"
                "# A value given at run time (docker run -e) wins over the one here.\n")
        for key, value in entries:
            if key == "PYTHONPATH" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                continue
            f.write('[ -n "${%s+set}" ] || export %s=%s\n' % (key, key, shlex.quote(value)))
        path = ":".join(roots + ([user_path] if user_path else []))
        f.write('PYTHONPATH=%s"${PYTHONPATH:+:$PYTHONPATH}"\nexport PYTHONPATH\n'
                % shlex.quote(path))
    record = {"model": model, "package": "/".join(prefix), "program": top, "pythonPath": roots,
              "modules": modules, "files": len(files),
              "leftOut": [{"path": p, "why": w} for p, w in left_out]}
    with open(os.path.join(layout_dir, "layout.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    # The labels images built by cortex-s2i carry about their model.
    title = (prefix + (model.split("/") if model else []))[-1]
    labels = [{"org.opencontainers.image.title": title}]
    if route_paths(env):
        labels.append({"io.cortex-s2i.routes": ",".join(route_paths(env))})
    os.makedirs(os.path.dirname(metadata), exist_ok=True)
    with open(metadata, "w", encoding="utf-8") as f:
        json.dump({"labels": labels}, f)
    out.write("---> Laid out %d files in %s; PYTHONPATH %s\n" % (len(files), top, ":".join(roots)))
    for p, why in left_out:
        out.write("     left out %s (%s)\n" % (p, why))
    return record


def ancestors(path: str) -> Iterator[str]:
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return
        yield parent
        path = parent


def send_root_hint(model: str) -> str:
    if model:
        return "check the module names, and that .cortexignore does not leave their files out"
    return ("a model folder sent alone carries none of the code around it (its package's shared "
            "modules): send the project root and name the model, "
            "s2i build <project root> <builder> <image> -e %s=<path/to/model>" % MODEL_KEY)


def imports_of(path: str) -> list[tuple[str, int]]:
    """(dotted name, line) of each absolute import in a Python file."""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (SyntaxError, ValueError):
        return []
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
    return out


def check(layout_dir: str = LAYOUT_DIR, out: TextIO = sys.stdout) -> list[str]:
    """The imports of the model's code that are not in the layout: the problems, one a line.

    A module that is neither sent nor installed is only a warning: the model's folder holds the
    code of both images, and a train-only library is rightly missing from the predict image.
    """
    with open(os.path.join(layout_dir, "layout.json"), encoding="utf-8") as f:
        record = json.load(f)
    roots = record["pythonPath"]
    model_dir = roots[0]

    def has(p: str, is_dir: bool = False) -> bool:
        return os.path.isdir(p) if is_dir else os.path.isfile(p)
    problems: list[str] = []
    for dirpath, dirs, names in os.walk(model_dir):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(dirpath, d)))
        for n in sorted(names):
            if not n.endswith(".py"):
                continue
            path = os.path.join(dirpath, n)
            for name, line in imports_of(path):
                top = name.split(".")[0]
                local = any(has(r + "/" + top + ".py") or has(r + "/" + top, True) for r in roots)
                if local:
                    ok = resolves(name, roots, has, namespace=True)
                else:
                    try:
                        ok = importlib.util.find_spec(top) is not None
                    except (ImportError, ValueError):
                        ok = False
                if ok:
                    continue
                where = "%s:%d imports %s" % (os.path.relpath(path, record["program"]), line, name)
                if local:
                    problems.append("%s, which is not in what was sent" % where)
                else:
                    out.write("assemble: warning: %s, which is neither sent nor installed\n"
                              % where)
    for p in problems:
        out.write("assemble: %s\n" % p)
    if problems:
        out.write("assemble: hint: %s\n" % send_root_hint(record["model"]))
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["layout"] and len(argv) == 2:
            layout(argv[1])
            return 0
        if argv == ["check"]:
            return EXIT_FAILED if check(out=sys.stderr) else 0
    except LayoutError as e:
        sys.stderr.write("assemble: %s\n" % e)
        return EXIT_FAILED
    sys.stderr.write("usage: python3 -m cortex_s2i_runtime.source_layout layout SRC | check\n")
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
