"""The commands built on the read side: `tunelab ui`, `tunelab report`, `tunelab trials`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def ui_command(
    store: Annotated[str, typer.Option("--store", help="Store folder (SQLite) or "
                                       "postgresql:// URL.")] = "tunelab-runs",
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but "
                                      "127.0.0.1/localhost requires a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8642,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="TUNELAB_UI_TOKEN",
        help="Token the API requires (default: generated and printed once).")] = None,
    data_root: Annotated[Path | None, typer.Option(
        "--data-root", help="Folder whose image folders the training page (/new) may use; "
                            "the server reads no data outside it (default: builtin:digits "
                            "only).")] = None,
    artifacts: Annotated[str | None, typer.Option(
        "--artifacts", help="The store's checkpoint folder (a PostgreSQL store needs it: the "
                            "folder or file:// URL its jobs were tuned with); jobs launched "
                            "from the page use it too.")] = None,
) -> None:
    """Serve the web dashboard, the training page (/new) and the REST API over a store."""
    import uvicorn

    from tunelab.server.app import create_app
    from tunelab.server.security import Access
    from tunelab.store.queries import Reader

    # a store that cannot be opened: one line, exit 2
    reader = Reader.open(store, artifacts=artifacts)
    access, generated = Access.for_host(host, token)
    app = create_app(reader, access, data_root=data_root)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    console.print(f"tunelab dashboard on {url}  (API docs: {url}docs; store: {reader.url})",
                  markup=False, highlight=False)
    if not access.embed_token:
        if generated:
            console.print(f"token (printed once): {access.token}", markup=False,
                          highlight=False)
        console.print(f"open {url}#token=<token>; API calls send it in the X-Tunelab-Token "
                      "header", markup=False, highlight=False)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        reader.close()


def report_command(
    name: Annotated[str, typer.Argument(help="Job name.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file to write.")] = Path(
        "report.html"),
    store: Annotated[str, typer.Option("--store", help="Store folder or URL.")] = "tunelab-runs",
) -> None:
    """Write the job page as one self-contained HTML file (opens offline)."""
    from tunelab.report.html import write_report
    from tunelab.store.queries import Reader

    with Reader.open(store) as reader:
        path = write_report(reader, name, out)
    console.print(f"report written: {path} ({path.stat().st_size // 1024} KiB, opens offline)",
                  markup=False, highlight=False)


def trials_command(
    name: Annotated[str, typer.Argument(help="Job name.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or parquet.")] = "csv",
    curves: Annotated[bool, typer.Option("--curves", help="Per-step curves in long form "
                                         "(trial, step, metric, value) instead.")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="File to write (default: "
                                             "standard output; parquet needs a file).")] = None,
    store: Annotated[str, typer.Option("--store", help="Store folder or URL.")] = "tunelab-runs",
) -> None:
    """Export a job's trials (or their curves) as csv, json or parquet."""
    from tunelab.jobdata import JobData, write_table
    from tunelab.store.queries import Reader

    with Reader.open(store) as reader:
        frame = JobData(name, reader).trials_dataframe(curves=curves)
    text = write_table(frame, fmt, out)
    if text is not None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        err.print(f"{len(frame)} rows written to {out}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("ui")(ui_command)
    app.command("report")(report_command)
    app.command("trials")(trials_command)
