"""Access: API keys and rate limits."""
