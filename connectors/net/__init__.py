"""The outbound client: the fetcher and its policy, pacing, failures, redirects, decoding
with size caps, local files, and the address guard.
"""
