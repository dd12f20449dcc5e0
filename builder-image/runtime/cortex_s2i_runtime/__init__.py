"""The Python runtime of cortex-s2i's builder images: the train runner and the predict server."""
