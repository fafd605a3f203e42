"""Test-only extension (copied into the Dynamic Prompts test WebUI by tests/webui/conftest.py):
sd-dynamic-prompts' settings, registered at start-up.

The stored sd-dynamic-prompts (e8326b5, March 2024) adds its settings from a settings callback
it registers when its script is first built, which on A1111 v1.10 is after the WebUI has called
those callbacks: its ``process`` hook then fails reading ``opts.dp_ignore_whitespace`` and the
job runs without it (its issue #752, fixed upstream after the stored commit). Here its own
``on_ui_settings`` runs once the app has started, as the fixed version's registration does.
"""
import importlib

from modules import script_callbacks


def _register(*_args):
    importlib.import_module("sd_dynamic_prompts.settings").on_ui_settings()


script_callbacks.on_app_started(_register, name="dynamic_prompts_settings")
