"""HTTP API v1 and the dashboard's server (`webhook-sidecar serve`).

The server authenticates nothing itself beyond a JWT's signature: every call runs in
the database as the caller (sidecar/api/store.py), and the api_* functions decide.
"""
