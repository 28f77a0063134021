"""Reading the graph: filters, keyset pages, search ranking and batched loaders."""
