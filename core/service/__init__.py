"""Layer 4, service: the read-only serving snapshot BI tools and the data API read."""
