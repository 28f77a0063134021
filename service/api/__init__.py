"""The HTTP and WebSocket edge: app factory, GraphQL over HTTP and WebSocket, request context,
metrics.
"""
