"""iCalendar feeds: lines, parsing, time zones, occurrences, mapping to listings."""
