"""The partner port: pushed listings and withdrawals, with idempotency keys."""
