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
    p.add_argument(
        "--api-auth",
        metavar="USER:PASS[,USER2:PASS2]",
        help="require HTTP Basic auth (A1111's form); prefer --api-auth-file or $SDSTUDIO_API_AUTH, which "
        "keep the password out of the process list",
    )
    p.add_argument("--api-auth-file", metavar="FILE", help="credentials as USER:PASS, one per line or comma")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow binding a non-loopback address without credentials (anyone on the network can use it)",
    )
    p.add_argument(
        "--job-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="cancel a job that has not finished this long after it was sent (default 600)",
    )
    p.add_argument(
        "--allowed-hosts",
        metavar="NAME[,NAME]",
        help="Host header names to answer (default: loopback names when bound to loopback, any otherwise)",
    )
    p.add_argument(
        "--cors-allow-origins", metavar="ORIGIN[,ORIGIN]", help="web pages allowed to send requests"
    )
    p.add_argument(
        "--model", default="", metavar="ID_OR_PATH", help="model to serve (default: the configured one)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sdstudio.api.security import (
        LOOPBACK_HOSTS,
        CredentialsError,
        check_exposure,
        is_loopback,
        load_credentials,
    )

    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port} is out of range; use 1 to 65535")
    if not args.job_timeout > 0:
        raise CliError(f"--job-timeout {args.job_timeout:g} must be above 0 seconds")
    try:
        credentials = load_credentials(args.api_auth, args.api_auth_file)
        check_exposure(args.host, credentials, args.insecure)
    except CredentialsError as e:
        raise CliError(str(e)) from None
    hosts = _names(args.allowed_hosts)
    allowed_hosts = hosts or (LOOPBACK_HOSTS if is_loopback(args.host) else None)
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
    app = create_app(
        services.queue,
        services.library,
        auth=credentials,
        model=args.model,
        job_timeout=args.job_timeout,
        allowed_hosts=allowed_hosts,
        allowed_origins=_names(args.cors_allow_origins),
    )
    print(f"sdstudio API on http://{args.host}:{args.port} (docs at /docs)")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        stop.set()
        thread.join(5)
        services.close()
    return 0


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())
