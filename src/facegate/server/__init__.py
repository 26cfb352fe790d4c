"""The local HTTP + WebSocket service: thin over ``facegate.sharing``.

``create_app`` builds the FastAPI application; ``facegate serve`` runs it on
127.0.0.1. The person's endpoints (``/api/user``) and pages are separated from the
apps' signed endpoints (``/api/v1/apps``) and the token-authorised stream
(``/api/v1/stream``).
"""
