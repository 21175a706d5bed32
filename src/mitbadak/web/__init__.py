"""`mitbadak serve`: the local web playground (needs ``pip install 'mitbadak[web]'``).

``create_app(registry)`` (in :mod:`mitbadak.web.app`) builds the Starlette app: the pages in
``static/`` (plain HTML/JS/CSS, no build step, nothing fetched from elsewhere), plotly.js served
from the installed ``plotly`` package, and one JSON API module per page in :mod:`mitbadak.web.api`.
Importing this package does not import Starlette; :mod:`mitbadak.web.app` does.
"""

WEB_EXTRA_HINT = "pip install 'mitbadak[web]'"
