"""Serving optuna-dashboard on a study storage, with a port check before it starts."""

from __future__ import annotations

import socket

from mfsearch.analysis._study import AnalysisError, open_storage


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_port(host: str, port: int) -> None:
    """Raises :class:`AnalysisError` suggesting a free port when ``port`` is taken."""
    if not 0 < port < 65536:
        raise AnalysisError(f"PORT={port} is invalid: use a port between 1 and 65535.")
    if port_free(host, port):
        return
    free = next((p for p in range(port + 1, min(port + 100, 65536)) if port_free(host, p)),
                None)
    hint = f" Try PORT={free}." if free else " Choose another PORT."
    raise AnalysisError(f"Port {port} on {host} is already in use.{hint}")


def serve_dashboard(storage_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serves optuna-dashboard on ``storage_url`` until interrupted; prints its URL first."""
    storage = open_storage(storage_url)
    check_port(host, port)
    from optuna_dashboard import run_server

    shown = f"[{host}]" if ":" in host else host
    print(f"optuna-dashboard on {storage_url}: http://{shown}:{port}/  (Ctrl-C stops it)",
          flush=True)
    run_server(storage, host=host, port=port)
