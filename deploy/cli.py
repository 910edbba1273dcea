"""``python -m engines serve-ray [--address auto]``: the app on Ray Serve, one deployment per engine.

Without ``--address`` it starts a Ray cluster on this machine; with ``--address auto`` (or a
``ray://`` / ``host:port`` address) it joins a running one. The page and ``/v1`` answer on
``--host``/``--port`` (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, as the app; default
127.0.0.1:7860) through Serve's HTTP proxy. One JSON object goes to stdout once the
application is up; the command then serves until Ctrl-C (or SIGTERM), and takes the
application down on the way out. Replicas and autoscaling: ``deploy/options.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading

logger = logging.getLogger("voice_studio.deploy")


def add_parsers(sub) -> None:
    p = sub.add_parser("serve-ray", help="serve the app on Ray Serve: one deployment per engine, autoscaled")
    p.add_argument("--address", default=None,
                   help="a running Ray cluster (auto, host:port, ray://...); default: start one here")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    p.add_argument("--num-cpus", type=float, default=None, help="CPUs of a cluster started here (default: all)")
    p.add_argument("--num-gpus", type=float, default=None, help="GPUs of a cluster started here (default: all)")
    p.set_defaults(run=run_serve_ray)


def run_serve_ray(args: argparse.Namespace, stdout, stop: threading.Event | None = None) -> int:
    """Deploy, say where, serve until ``stop`` (Ctrl-C or SIGTERM when None), take it down."""
    from engines.errors import InputError

    try:
        import ray
        from ray import serve
    except ImportError:
        raise InputError("serve-ray needs Ray Serve: pip install -r requirements-ray.txt") from None
    from .application import APP_NAME, build_application

    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} is not a port (1 to 65535)")
    started_here = args.address is None
    ray.init(address=args.address, num_cpus=args.num_cpus if started_here else None,
             num_gpus=args.num_gpus if started_here else None, include_dashboard=False, ignore_reinit_error=True)
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        serve.run(build_application(), name=APP_NAME, route_prefix="/")
        url = f"http://{args.host}:{args.port}/"
        json.dump({"url": url, "app": APP_NAME, "ray_address": ray.get_runtime_context().gcs_address,
                   "cluster_started_here": started_here}, stdout)
        stdout.write("\n")
        stdout.flush()
        logger.info("serving on Ray Serve", extra={"url": url})
        _wait(stop)
    finally:
        serve.delete(APP_NAME)
        if started_here:
            serve.shutdown()
            ray.shutdown()
    return 0


def _wait(stop: threading.Event | None) -> None:
    if stop is not None:
        stop.wait()
        return
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
