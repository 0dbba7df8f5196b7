"""One HTTP attempt and what it needs: body, signature, egress checks, name resolution. Knows nothing of the database."""
