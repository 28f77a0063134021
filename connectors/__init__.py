"""How data comes in: connectors yield Listings; no database here."""
