"""MODELS_LINK: the one absolute path through which model code finds the models folder.

Model code often reads (and train code writes) its binaries in a `models/` folder of its own
package or use case, e.g. /opt/program/scoring/models/x.pkl. Those folders are left out of the
image; in place of each the build puts a symlink to MODELS_LINK, and the builder images make
MODELS_LINK a symlink to the mounted models: /action/models in the predict image, /model/models in
the train image. During a train run the runner points it at the run's staged models folder
instead (redirect()), so that writes through a package path are published all or nothing, like
writes to the relative `models/`.
"""

from __future__ import annotations

import contextlib
import os

# lib/plan uses the same path for the links it puts in place of left-out models/ folders, and
# builder-image/Dockerfile creates it in both builder images.
MODELS_LINK = "/opt/cortex-s2i/models"


def point(link: str, target: str) -> None:
    """Make `link` a symlink to `target` atomically: a reader sees the old target or the new one."""
    temporary = "%s.%d.tmp" % (link, os.getpid())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def redirect(link: str, target: str) -> bool:
    """Point `link` at `target` when `link` is a symlink; returns whether it did.

    Nothing happens when it is not one: the runtime outside an image, or an image whose builder
    predates the link. The caller points it back with point(link, <the real models folder>):
    a fixed folder rather than the previous target, which repairs a link that a killed run
    left pointing at its stage.
    """
    if not os.path.islink(link):
        return False
    point(link, target)
    return True
