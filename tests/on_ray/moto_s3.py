"""A real S3-compatible server for the object-storage tests: moto's, on 127.0.0.1.

:func:`s3_server` starts ``ThreadedMotoServer`` on a free port, points the standard AWS
variables (``AWS_ENDPOINT_URL``, test credentials, a region) at it — in this process, and so in
whatever it starts after (a Ray node started with this environment) — creates ``bucket``, and
restores everything when it ends. moto keeps the objects in memory; the client side is the real
s3fs/botocore stack talking HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
       "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _forget_clients() -> None:
    """fsspec caches one S3 file system per set of arguments; its endpoint came from the
    environment, which changes here."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@contextmanager
def s3_server(bucket: str = "tunelab-test") -> Iterator[str]:
    """Run the server; yields its endpoint URL with ``bucket`` created."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ENV}
    for k in ENV:
        os.environ.pop(k, None)
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    _forget_clients()
    try:
        import s3fs

        s3fs.S3FileSystem().mkdir(bucket)
        yield endpoint
    finally:
        _forget_clients()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
