"""The outbound client: fetcher, policy, decoding with size caps, pacing, local files, the
address guard.
"""
