"""`tunelab ui`: a read-only web dashboard and REST API over a store (FastAPI + uvicorn).

:func:`tunelab.server.app.create_app` builds the application; :mod:`.security` holds the token
rules, :mod:`.routes` the REST API (``/api/v1``), :mod:`.pages` the HTML pages and static files.
"""
