"""The app for ``uvicorn --factory`` and multi-worker ``serve``: the config path comes from the environment.

uvicorn starts several workers by importing the app by name in each child
process, so the settings cannot be passed as an argument: ``serve --workers N``
puts the config path in ``RESPONSEMASTER_CONFIG`` and each worker builds its
own app (its own engine and pool) here.
"""

from __future__ import annotations

import os

from litestar import Litestar

from responsemaster.config import load_settings

CONFIG_ENV = "RESPONSEMASTER_CONFIG"


def app_from_env() -> Litestar:
    from api.app import create_app
    from responsemaster.lifeline import tie_to_multiprocessing_parent

    tie_to_multiprocessing_parent()  # a worker of `serve --workers N` dies with the serve process

    path = os.environ.get(CONFIG_ENV) or None
    return create_app(load_settings(path), config_path=path)
