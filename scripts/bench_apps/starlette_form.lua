wrk.method = "POST"
wrk.body = "x=1&y=2&z=2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
