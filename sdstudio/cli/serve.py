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
    from sdstudio.core.engine import Engine
    from sdstudio.core.errors import ModelError
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings

    settings = Settings.load()
    library = ModelLibrary(settings)
    try:
        library.resolve(args.model)
    except ModelError as e:
        raise CliError(str(e)) from None
    store = GalleryStore(settings.outputs_path())
    queue = JobQueue(
        engine_factory=lambda: Engine.from_settings(library),
        store=store,
    )
    thread, stop = queue.start_thread()
    app = create_app(queue, library, auth=args.api_auth, model=args.model)
    print(f"sdstudio API on http://{args.host}:{args.port} (docs at /docs)")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        stop.set()
        thread.join(5)
        store.close()
    return 0
