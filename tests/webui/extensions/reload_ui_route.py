"""Test-only extension (copied into a test WebUI by tests/webui/conftest.py): "Reload UI" over HTTP.

POST /animatediff-test/reload-ui asks the WebUI for what Settings → "Reload UI" does: its main
loop closes the app, calls the script-unloaded callbacks, executes every script file again and
serves a new app on the same port. Only a WebUI that serves its UI (without --nowebui) has that
loop. Answers at once; the reload follows.
GET /animatediff-test/unload-callbacks answers the names of the script-unloaded callbacks in the
order a reload would call them now (the WebUI calls its ordered list in reverse).
"""
from modules import script_callbacks, shared

ROUTE = "/animatediff-test/reload-ui"
UNLOAD_CALLBACKS_ROUTE = "/animatediff-test/unload-callbacks"
CATEGORY = "script_unloaded"


def _reload():
    shared.state.request_restart()
    return {"reloading": True}


def _unload_callbacks():
    script_callbacks.ordered_callbacks_map.pop(CATEGORY, None)  # computed afresh at the reload, with today's settings
    ordered = script_callbacks.ordered_callbacks(CATEGORY)
    script_callbacks.ordered_callbacks_map.pop(CATEGORY, None)
    return [callback.name for callback in reversed(ordered)]


def _routes(demo, app):
    app.add_api_route(ROUTE, _reload, methods=["POST"])
    app.add_api_route(UNLOAD_CALLBACKS_ROUTE, _unload_callbacks, methods=["GET"])


script_callbacks.on_app_started(_routes)
