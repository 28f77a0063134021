"""Web pages and feeds: schema.org JSON-LD pages and RSS/Atom, sharing value and date code."""
