"""Webhook delivery sidecar for Supabase apps: claims deliveries, POSTs them, records every attempt."""

__version__ = "0.1.0"
