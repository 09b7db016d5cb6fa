"""ADMIN_ENDPOINTS: /metrics, /livez and /readyz, and the Prometheus exposition of the numbers."""
