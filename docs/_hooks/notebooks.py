"""MkDocs hook: publish the repository's notebooks/ as site pages under notebooks/.

The notebooks live in notebooks/ (the test suite runs them there); this hook adds them to
the site's files before mkdocs-jupyter turns them into pages (rendered from their stored
outputs, never executed: `execute: false` in mkdocs.yml). No copy, no symlink.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files


@event_priority(100)  # before mkdocs-jupyter's on_files (priority 0) wraps .ipynb files
def on_files(files: Files, config) -> Files:
    root = Path(config["config_file_path"]).parent / "notebooks"
    for path in sorted(root.glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{path.name}",
                src_dir=str(root.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
