"""The Python runtime of cortex-s2i's builder images: the train runner and the predict server.

Model code may import `ClientError` from here to answer a request with a 4xx status and a message
(client_error.py).
"""

from .client_error import ClientError

__all__ = ["ClientError"]
