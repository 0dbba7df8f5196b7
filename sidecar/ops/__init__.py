"""Running it: metrics and /healthz, log lines, doctor, the embedded cluster, migrations, CLI output."""
