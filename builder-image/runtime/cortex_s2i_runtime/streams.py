"""Standard streams of the one-shot commands: stdout for machine-readable output, the rest to stderr."""

import os
import sys


def claim_stdout():
    """Keep the real stdout for the command's output and point file descriptor 1 at stderr.

    Model code prints, and so do its subprocesses and native libraries (at file-descriptor level,
    which sys.stdout alone would not catch): all of it goes to stderr, so that stdout holds only
    what the command promises (train events, an inquiry's answer).
    """
    sys.stdout.flush()
    claimed = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)
    return claimed
