"""Hosted applications that run a whole exchange themselves: WSGI, ASGI, AsyncURLHandler."""
