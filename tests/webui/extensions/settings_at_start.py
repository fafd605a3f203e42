"""Test-only extension (copied into the Wildcards-extension test WebUI by tests/webui/conftest.py):
every extension's settings, registered at start-up as building the UI registers them.

A WebUI started with --nowebui never calls the settings callbacks, and A1111's Wildcards
extension reads its settings (``opts.wildcards_same_seed``) in every job's ``process`` hook:
without them the hook fails and the job runs without it.
"""
from modules import script_callbacks


def _register(*_args):
    script_callbacks.ui_settings_callback()


script_callbacks.on_app_started(_register, name="settings_at_start")
