"""WebSocket connections, both kinds: hwebserver's WebSocket classes and ASGI apps' websockets."""
