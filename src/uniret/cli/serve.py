"""``uniret serve``: the HTTP search service (API, metrics, search page) over any retriever."""

from __future__ import annotations

import argparse
import os

from uniret.cli.args import float_in, int_at_least
from uniret.cli.selection import add_retriever_selection, open_selected_retriever

API_KEY_ENV = "UNIRET_API_KEY"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="HTTP search service: JSON API, Prometheus metrics and a search page",
        description="Serve a retriever over HTTP: GET / (search page), /health, /info, "
        "/v1/search (GET one query, POST several), POST /v1/kilt (KILT records -> KILT "
        "predictions), /v1/passages/{id}, /v1/pages/{wikipedia_id}, /metrics; API docs at "
        "/docs. Concurrent queries are encoded together (micro-batching). SIGTERM or ^C "
        "answers the requests already received, then exits.",
    )
    add_retriever_selection(p, auto_backend=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int_at_least(0), default=8000, help="port (default 8000; 0 picks a free one)"
    )
    p.add_argument(
        "--api-key",
        help=f"require this key (X-API-Key or Authorization: Bearer) on every endpoint but "
        f"/health, the page and the docs (default: ${API_KEY_ENV} if set, else no key)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; default: none)",
    )
    p.add_argument(
        "--max-batch",
        type=int_at_least(1),
        default=64,
        help="queries encoded together at most (default 64; 1 = one forward per request)",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float_in(0.0, 1000.0),
        default=5.0,
        help="how long a query waits for others to join its batch (default 5)",
    )
    p.add_argument(
        "--max-k",
        type=int_at_least(1),
        default=1000,
        help="largest k a client may ask for (default 1000)",
    )
    p.add_argument(
        "--max-queries",
        type=int_at_least(1),
        default=256,
        help="queries (or KILT records) per POST at most (default 256)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int_at_least(1),
        default=1 << 20,
        help="request body size cap (default 1 MiB)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from uniret.cli.args import make
    from uniret.cli.selection import selected_bundle
    from uniret.errors import UniretError
    from uniret.service import ServiceConfig, ServiceInfo, create_app
    from uniret.service.server import bind, run

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    config = make(
        ServiceConfig,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_k=args.max_k,
        max_queries=args.max_queries,
        max_body_bytes=args.max_body_bytes,
        api_key=api_key,
        cors_origins=tuple(args.cors_origin),
    )
    info = ServiceInfo.from_bundle(selected_bundle(args))
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise UniretError(f"can't listen on {args.host}:{args.port}: {exc.strerror}") from None
    bundle, retriever = open_selected_retriever(args)
    app = create_app(retriever, info, config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    key = "API key required" if api_key else "no API key"
    print(f"serving {bundle.name} on http://{shown}:{port}/ ({key}; docs at /docs)", flush=True)
    level = "debug" if args.verbose else "warning" if args.quiet else "info"
    run(app, sock, log_level=level)
    print("stopped", flush=True)
    return 0
