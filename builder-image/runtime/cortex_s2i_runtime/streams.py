"""Standard streams of the one-shot commands: stdout for what a program reads, the rest stderr."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def claim_stdout() -> TextIO:
    """Keep the real stdout for the command's output and point file descriptor 1 at stderr.

    Model code prints, and so do its subprocesses and native libraries (at file-descriptor level,
    which sys.stdout alone would not catch): all of it goes to stderr, so that stdout holds only
    what the command promises (train events, an inquiry's answer).
    """
    sys.stdout.flush()
    claimed = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    reconfigure = getattr(sys.stdout, "reconfigure", None)  # a TextIOWrapper's, as it is here
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    return claimed
