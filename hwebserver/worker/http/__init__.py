"""HTTP/1.1 on one connection: parsing, limits, dispatch to what answers, writing responses."""
