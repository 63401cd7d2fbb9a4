"""For deployments that run gunicorn directly: ``gunicorn -c gunicorn.conf.py app.wsgi:application``.

Settings come from TKA_* environment variables (see app/settings.py); ``tka serve`` is the same
server with flags.
"""

from app.core.greenlets import patch_for, worker_class

patch_for(worker_class())  # before the app's imports (see app/core/greenlets.py)

from app.cli import gunicorn_options, metrics_dir  # noqa: E402

metrics_dir()  # before app.settings pulls in prometheus_client

from app.settings import Settings  # noqa: E402

_settings = Settings.from_env()
_settings.check()
globals().update(gunicorn_options(_settings))


def on_starting(server):  # noqa: ANN001 - gunicorn hook: migrate once, before workers fork
    from app.store import Store
    from app.store.sql import default_database_url

    store = Store(_settings.database_url or default_database_url())
    store.migrate()
    store.dispose()
