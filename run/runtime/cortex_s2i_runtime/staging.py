"""Stages a train run's models directory so that binaries are published only when training succeeds.

The train function runs in a scratch working directory (under $TMPDIR) that mirrors the real one
(/model): every entry is a symlink to the original, except `models`, which is a private copy of
the real models directory. Relative paths (`data/...`, `models/...`) therefore behave as usual,
but writes to `models/` reach /model/models only through publish(), which copies each new or
changed file next to its destination and renames it into place (atomic per file). A failed or
interrupted run discards the copy, leaving /model/models as it was. Files the run deletes from
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

    def publish(self, version):
        """Copy new or changed files into the real models directory; returns their paths."""
        published = []
        for dirpath, dirnames, filenames in os.walk(self.staged_models):
            relative_dir = os.path.relpath(dirpath, self.staged_models)
            target_dir = os.path.normpath(os.path.join(self.models_dir, relative_dir))
            links_to_dirs = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            for name in sorted(filenames + links_to_dirs):
                source = os.path.join(dirpath, name)
                target = os.path.join(target_dir, name)
                mode = os.lstat(source).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                    continue  # sockets, FIFOs: nothing a model binary would be
                if _same(source, target):
                    continue
                os.makedirs(target_dir, exist_ok=True)
                temporary = os.path.join(target_dir, ".%s.cortex-s2i-%s.tmp" % (name, version))
                try:
                    if stat.S_ISLNK(mode):
                        os.symlink(os.readlink(source), temporary)
                    else:
                        shutil.copy2(source, temporary)
                    os.replace(temporary, target)
                except BaseException:
                    if os.path.lexists(temporary):
                        os.unlink(temporary)
                    raise
                published.append(os.path.normpath(os.path.join(relative_dir, name)))
        return published

    def discard(self):
        shutil.rmtree(self.root, ignore_errors=True)


def _same(source, target):
    if os.path.islink(source):
        return os.path.islink(target) and os.readlink(source) == os.readlink(target)
    if os.path.islink(target) or not os.path.isfile(target):
        return False
    # copytree kept size and mtime, so an untouched file matches on stat alone.
    return filecmp.cmp(source, target, shallow=True)
