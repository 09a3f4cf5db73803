"""Getting models: the hub, Civitai, plain URLs and local files into the library's folder for each kind.

Qt-free. `sources.resolve` turns what the user typed into a plan; `installer.install` carries a plan out (resumable
downloads, verified hashes, atomic placement); `queue.DownloadQueue` runs installs on a worker thread with progress,
pause and cancel; `starters` is the curated starter list.
"""

from sdstudio.core.install.plan import FileProgress, Installed, InstallError, InstallPlan, RemoteFile

__all__ = ["FileProgress", "InstallError", "InstallPlan", "Installed", "RemoteFile"]
