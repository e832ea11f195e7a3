"""Studio: the web UI and REST control plane (`fmtune studio`; the app: fmtune.studio.app.studio_app). Every action
goes through the same start_job, runner, job store and endpoint launcher as the CLI and the SDK; the pages and the
API add no second path."""
