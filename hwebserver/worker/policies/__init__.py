"""What a port's settings ask of every request on it: hosts, CORS, TLS, HTTPS redirect, logs."""
