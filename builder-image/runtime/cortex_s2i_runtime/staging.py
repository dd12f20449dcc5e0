"""Stages a train run's models directory so that binaries are published only when training succeeds.

The train function runs in a scratch working directory (under $TMPDIR) that mirrors the real one
(/model): every entry is a symlink to the original, except `models`, which is a private copy of
the real models directory. Relative paths (`data/...`, `models/...`) therefore behave as usual,
but writes to `models/` reach /model/models only through publish(), which is all or nothing:
  1. check: everything that can be known before writing, all at once (a staged file where the
     published folder has a folder, a staged folder where it has a file, a link leaving the
     models folder); any problem raises PublishError with nothing written;
  2. copy: every new or changed file next to its destination under a temporary name, flushed;
  3. backup: every destination that exists is kept under a second name (a hard link);
  4. rename: each temporary name onto its destination.
A failure in any phase (a full disk strikes in 2, which needs the space) undoes the phases before
it, renames included, and leaves /model/models byte-for-byte as it was. A failed or interrupted run
discards the copy. Files the run deletes from `models/` are not deleted from the real directory.

Links are published as links only when they resolve inside the models folder, rewritten as the
relative path to where they resolve; a link that leaves it (models/evil -> /etc/shadow, which the
host would follow to its own file) fails the publish with the link and its target named.

Code that writes to an absolute path bypasses the stage, except through MODELS_LINK
(models_link.py), which the train runner points at the stage's models folder during the run.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import stat
import tempfile


class PublishError(Exception):
    """publish() found problems before changing anything; `problems` lists each, one per path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) + "; nothing was published")
        self.problems = list(problems)


class ModelsStage:
    def __init__(self, workdir: str, tmp_root: str | None = None) -> None:
        self.workdir = os.path.abspath(workdir)
        self.models_dir = os.path.join(self.workdir, "models")
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-train-", dir=tmp_root)
        self.staged_models = os.path.join(self.root, "models")

    def prepare(self) -> str:
        """Fill the scratch directory; returns its path, the working directory for the run."""
        for name in sorted(os.listdir(self.workdir)):
            if name != "models":
                os.symlink(os.path.join(self.workdir, name), os.path.join(self.root, name))
        if os.path.isdir(self.models_dir):
            # A copy, not symlinks: open("models/x.pkl", "wb") on a symlink would overwrite the
            # published binary in place, before the run is known to succeed.
            shutil.copytree(self.models_dir, self.staged_models, symlinks=True)
        else:
            os.mkdir(self.staged_models)
        return self.root

    def changes(self) -> list[str]:
        """Staged files (relative paths, sorted) that are new or differ from the published ones."""
        changed = []
        for dirpath, dirnames, filenames in os.walk(self.staged_models):
            dirnames.sort()
            relative_dir = os.path.relpath(dirpath, self.staged_models)
            links_to_dirs = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            for name in sorted(filenames + links_to_dirs):
                source = os.path.join(dirpath, name)
                mode = os.lstat(source).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                    continue  # sockets, FIFOs: nothing a model binary would be
                relative = os.path.normpath(os.path.join(relative_dir, name))
                if not _same(source, os.path.join(self.models_dir, relative)):
                    changed.append(relative)
        return sorted(changed)

    def check(self, paths: list[str]) -> dict[str, str]:
        """Every reason publishing `paths` would fail or be unsafe, found without writing anything.

        Returns {relative path: text of the link to publish} for the links among `paths`; raises
        PublishError naming every problem: a staged path whose published counterpart is of the
        other type (a folder where a file goes, a file or link where a folder goes), and a link
        that leaves the models folder.
        """
        problems: list[str] = []
        if os.path.islink(self.staged_models) or not os.path.isdir(self.staged_models):
            raise PublishError(["the run replaced its models folder with %s; write files inside "
                                "it instead" % _describe(self.staged_models)])
        links: dict[str, str] = {}
        for relative in paths:
            source = os.path.join(self.staged_models, relative)
            shown = "models/" + relative
            try:
                mode = os.lstat(source).st_mode
            except FileNotFoundError:
                problems.append("%s is no longer in the run's models folder" % shown)
                continue
            if stat.S_ISLNK(mode):
                text, problem = self._link_text(source, shown)
                if problem is not None or text is None:
                    problems.append(problem or "%s cannot be published" % shown)
                    continue
                links[relative] = text
            elif not stat.S_ISREG(mode):
                problems.append("%s is %s, not a file" % (shown, _describe(source)))
                continue
            problems.extend(self._conflicts(relative))
        if problems:
            raise PublishError(problems)
        return links

    def _link_text(self, source: str, shown: str) -> tuple[str | None, str | None]:
        """(the link's text as published, None) or (None, why it cannot be published).

        A link is published only when it resolves inside the models folder, and always as a
        relative link computed from where it resolves: an absolute path, or a relative one that
        leaves the folder and comes back (`../models/x`), would point elsewhere on the host.
        """
        target = os.readlink(source)
        stage_root = os.path.realpath(self.staged_models)
        resolved = os.path.realpath(os.path.join(os.path.dirname(source), target))
        # An absolute link into the published folder (/model/models/x) means the same file.
        for root in (stage_root, os.path.realpath(self.models_dir)):
            if resolved == root or resolved.startswith(root + os.sep):
                inside = os.path.join(stage_root, os.path.relpath(resolved, root))
                return os.path.relpath(inside, os.path.realpath(os.path.dirname(source))), None
        return None, ("%s is a link to %s, outside the models folder: a published link must "
                      "stay inside it (write a copy of the file instead)" % (shown, target))

    def _conflicts(self, relative: str) -> list[str]:
        """What in the published folder stands in the way of relative: files, links, folders."""
        parts = relative.split(os.sep)
        path = self.models_dir
        for depth, part in enumerate(parts):
            path = os.path.join(path, part)
            last = depth == len(parts) - 1
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                return []  # created on publish, and so is everything below it
            shown = os.path.join(self.models_dir, *parts[:depth + 1])
            if not last and not stat.S_ISDIR(mode):
                return ["%s is %s in %s, but a folder in the run's models (%s is in it)"
                        % (shown, _describe(path), self.models_dir, "models/" + relative)]
            if last and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                return ["%s is %s in %s, but a %s in the run's models"
                        % (shown, _describe(path), self.models_dir,
                           "link" if os.path.islink(os.path.join(self.staged_models, relative))
                           else "file")]
        return []

    def publish(self, version: str, paths: list[str] | None = None) -> list[str]:
        """Copy `paths` (default: changes()) into the real models directory, in that order.

        Returns the paths. All or nothing: check() first, then every file is copied beside its
        destination under a temporary name, then each destination that exists is kept under a
        backup name (a hard link, no space needed), then the renames. A failure in any phase
        undoes what the earlier ones did (the renames included: each backup is renamed back), so
        the models directory is left byte-for-byte as it was and the exception propagates.
        """
        paths = self.changes() if paths is None else list(paths)
        links = self.check(paths)
        created_dirs: list[str] = []
        pending: list[tuple[str, str]] = []  # (temporary, target)
        backups: dict[str, str] = {}  # target: backup, for the targets that exist
        try:
            for relative in paths:
                source = os.path.join(self.staged_models, relative)
                target = os.path.join(self.models_dir, relative)
                _make_dirs(os.path.dirname(target), created_dirs)
                temporary = _beside(target, version, "tmp")
                pending.append((temporary, target))
                if relative in links:
                    os.symlink(links[relative], temporary)
                else:
                    shutil.copy2(source, temporary)
                    _fsync_file(temporary)
            for _, target in pending:
                if os.path.lexists(target):
                    backups[target] = _beside(target, version, "old")
                    _keep(target, backups[target])
        except BaseException:
            _remove_quietly([temporary for temporary, _ in pending] + list(backups.values()),
                            created_dirs)
            raise
        done = []
        try:
            for temporary, target in pending:
                os.replace(temporary, target)
                done.append(target)
        except BaseException:
            for target in reversed(done):
                try:  # each undo on its own: one that fails must not stop the others
                    if target in backups:
                        os.replace(backups.pop(target), target)
                    else:
                        os.unlink(target)
                except OSError:
                    pass
            _remove_quietly([temporary for temporary, _ in pending] + list(backups.values()),
                            created_dirs)
            raise
        _remove_quietly(list(backups.values()), [])
        for directory in sorted({os.path.dirname(target) for _, target in pending}):
            _fsync_dir(directory)
        return paths

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _same(source: str, target: str) -> bool:
    if os.path.islink(source):
        return os.path.islink(target) and os.readlink(source) == os.readlink(target)
    if os.path.islink(target) or not os.path.isfile(target):
        return False
    # copytree kept size and mtime, so an untouched file matches on stat alone.
    return filecmp.cmp(source, target, shallow=True)


def _describe(path: str) -> str:
    if os.path.islink(path):
        return "a link to %s" % os.readlink(path)
    if os.path.isdir(path):
        return "a folder"
    if os.path.isfile(path):
        return "a file"
    return "a special file" if os.path.lexists(path) else "missing"


def _beside(target: str, version: str, kind: str) -> str:
    """A hidden name next to target for this run's temporary copy ("tmp") or backup ("old")."""
    return os.path.join(os.path.dirname(target), ".%s.cortex-s2i-%s.%s"
                        % (os.path.basename(target), version, kind))


def _keep(target: str, backup: str) -> None:
    """Keep target's current content under the name backup, without following a link."""
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:
        # Filesystems without hard links: a copy costs space, and is made before any rename.
        if os.path.islink(target):
            os.symlink(os.readlink(target), backup)
        else:
            shutil.copy2(target, backup)


def _make_dirs(directory: str, created: list[str]) -> None:
    """os.makedirs, recording each directory it creates (outermost first) in `created`."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        os.mkdir(path)
        created.append(path)


def _remove_quietly(files: list[str], directories: list[str]) -> None:
    for path in files:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    for path in reversed(directories):
        try:
            os.rmdir(path)
        except OSError:
            pass


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    # Makes the renames durable; some filesystems cannot fsync a directory, which is no error.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
