"""Stages a train run's models directory so that binaries are published only when training succeeds.

The train function runs in a scratch working directory (under $TMPDIR) that mirrors the real one
(/model): every entry is a symlink to the original, except `models`, which is a private copy of
the real models directory. Relative paths (`data/...`, `models/...`) therefore behave as usual,
but writes to `models/` reach /model/models only through publish(), in two phases: first every
new or changed file is copied next to its destination under a temporary name (and flushed to
disk), then each is renamed into place. A full disk, or any other failure, strikes in the first
phase, which then removes what it wrote and leaves /model/models byte-for-byte as it was; renames
need no space. A failed or interrupted run discards the copy. Files the run deletes from
`models/` are not deleted from the real directory; code writing to absolute paths bypasses the
stage.
"""

import filecmp
import os
import shutil
import stat
import tempfile


class ModelsStage:
    def __init__(self, workdir, tmp_root=None):
        self.workdir = os.path.abspath(workdir)
        self.models_dir = os.path.join(self.workdir, "models")
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-train-", dir=tmp_root)
        self.staged_models = os.path.join(self.root, "models")

    def prepare(self):
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

    def changes(self):
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

    def publish(self, version, paths=None):
        """Copy `paths` (default: changes()) into the real models directory, in that order.

        Returns the paths. Either every file is published or, when copying fails (ENOSPC),
        none is and the exception propagates with the models directory untouched.
        """
        paths = self.changes() if paths is None else list(paths)
        created_dirs = []
        pending = []  # (temporary, target)
        try:
            for relative in paths:
                source = os.path.join(self.staged_models, relative)
                target = os.path.join(self.models_dir, relative)
                _make_dirs(os.path.dirname(target), created_dirs)
                temporary = os.path.join(os.path.dirname(target), ".%s.cortex-s2i-%s.tmp"
                                         % (os.path.basename(target), version))
                pending.append((temporary, target))
                if os.path.islink(source):
                    os.symlink(os.readlink(source), temporary)
                else:
                    shutil.copy2(source, temporary)
                    _fsync_file(temporary)
        except BaseException:
            _remove_quietly([temporary for temporary, _ in pending], created_dirs)
            raise
        done = 0
        try:
            for temporary, target in pending:
                os.replace(temporary, target)
                done += 1
        except BaseException:
            _remove_quietly([temporary for temporary, _ in pending[done:]], [])
            raise
        for directory in sorted({os.path.dirname(target) for _, target in pending}):
            _fsync_dir(directory)
        return paths

    def discard(self):
        shutil.rmtree(self.root, ignore_errors=True)


def _same(source, target):
    if os.path.islink(source):
        return os.path.islink(target) and os.readlink(source) == os.readlink(target)
    if os.path.islink(target) or not os.path.isfile(target):
        return False
    # copytree kept size and mtime, so an untouched file matches on stat alone.
    return filecmp.cmp(source, target, shallow=True)


def _make_dirs(directory, created):
    """os.makedirs, recording each directory it creates (outermost first) in `created`."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        os.mkdir(path)
        created.append(path)


def _remove_quietly(files, directories):
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


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path):
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
