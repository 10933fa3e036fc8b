"""MongoDB access (collections, indexes, queries) and the blob store. Knows nothing of HTTP."""
