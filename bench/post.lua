-- wrk script: POSTs one JSON body, read from the file named after `--`, to the URL's path.
--   wrk -t1 -c1 -d10s --latency -s bench/post.lua http://127.0.0.1:2000/api/v2/execute -- body.json
-- Any answer but 200 shows in wrk's "Non-2xx or 3xx responses" line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  local file = assert(io.open(args[1], "rb"), "usage: wrk ... -s post.lua URL -- BODY_FILE")
  wrk.body = file:read("*a")
  file:close()
end
