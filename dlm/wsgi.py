"""WSGI entry point (gunicorn dlm.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dlm.settings")
application = get_wsgi_application()
