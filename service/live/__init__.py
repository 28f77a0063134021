"""The live port: subscriptions fed by MongoDB change streams."""
