"""`sdstudio serve`: the AUTOMATIC1111-compatible API, headless, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse

from sdstudio.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the AUTOMATIC1111-compatible HTTP API (no window)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--api-auth", metavar="USER:PASS", help="require HTTP Basic auth")
    p.add_argument(
        "--model", default="", metavar="ID_OR_PATH", help="model to serve (default: the configured one)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.api_auth is not None and ":" not in args.api_auth:
        raise CliError("--api-auth must be USER:PASS")
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port} is out of range; use 1 to 65535")
    import uvicorn

    from sdstudio.api.app import create_app
    from sdstudio.core.errors import ModelError
    from sdstudio.core.root import build_services

    services = build_services()
    try:
        services.library.resolve(args.model)
    except ModelError as e:
        services.close()
        raise CliError(str(e)) from None
    thread, stop = services.queue.start_thread()
    app = create_app(services.queue, services.library, auth=args.api_auth, model=args.model)
    print(f"sdstudio API on http://{args.host}:{args.port} (docs at /docs)")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        stop.set()
        thread.join(5)
        services.close()
    return 0
