"""For deployments that run gunicorn directly: ``gunicorn -c gunicorn.conf.py app.wsgi:application``.

Settings come from TKA_* environment variables (app/settings.py); ``tka serve`` is the same
server with flags. Every setting and hook comes from app/serving.py: add a hook of your own by
passing it to ``gunicorn_config`` (it is chained after tka's), not by defining it here, which
would replace tka's.
"""

from app.settings import Settings

_settings = Settings.from_env()

from app.process import prepare  # noqa: E402

prepare(_settings.worker_class)  # before the rest of the app is imported (app/process.py)

from app.serving import gunicorn_config, server_settings  # noqa: E402

globals().update(gunicorn_config(server_settings(_settings)))
