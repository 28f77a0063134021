"""Entity resolution: which records of different sources are one community or event.

Blocking keys find the few candidates a new record can be (`blocking`), the pair
is scored on the evidence a person would use (`communities`, `events`, over the
comparable forms of `names` and `profiles`), and the score falls into one of
three outcomes by configurable thresholds (`policy`); every decision is kept with
its evidence (`decisions`), and ids merged away resolve to their survivor
(`redirects`).
"""
