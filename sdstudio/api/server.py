"""Running the API: headless (`sdstudio serve`) or from inside the studio window, on a uvicorn thread."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdstudio.api.convert import Limits
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.protocols import Library

log = logging.getLogger(__name__)


class ApiServer:
    """uvicorn on a background thread over an existing queue; start() and stop() from any thread."""

    def __init__(
        self,
        queue: JobQueue,
        library: Library,
        host: str = "127.0.0.1",
        port: int = 7860,
        auth: str | dict[str, str] | None = None,
        model: str = "",
        limits: Limits | None = None,
        insecure: bool = False,
        job_timeout: float | None = None,
    ):
        from sdstudio.api.app import create_app
        from sdstudio.api.security import LOOPBACK_HOSTS, check_exposure, is_loopback, parse_credentials

        credentials = parse_credentials(auth) if isinstance(auth, str) else auth
        check_exposure(host, credentials, insecure)  # CredentialsError: nothing starts
        self.host, self.port = host, port
        self.app = create_app(
            queue,
            library,
            auth=credentials,
            model=model,
            limits=limits,
            job_timeout=job_timeout,
            allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.run, name="sdstudio-api", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout * 20)):
            if self._server.started or not self._thread.is_alive():
                break
            deadline.wait(0.05)
        if not self._server.started:
            raise OSError(f"the API server could not start on {self.url} (port in use?)")

    def stop(self) -> None:
        self.app.state.unsubscribe()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
