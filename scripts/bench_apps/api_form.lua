wrk.method = "POST"
wrk.body = "cmd_function=geo.vector_length&x=1&y=2&z=2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
