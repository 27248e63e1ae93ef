-- wrk script for the router benchmarks: what a Trino client sends, chosen by the arguments
-- after the URL (`wrk -s trino.lua URL -- MODE ...`):
--   get                        GET the URL's path over and over (a result page)
--   post SQL_FILE              POST /v1/statement with the SQL of SQL_FILE
--   lifecycle SQL_FILE MARKER  whole queries: POST, then every nextUri until a page has
--                              none; MARKER ("-" for none) is the path prefix a pinned
--                              nextUri starts with, counted to prove the router pinned them
-- done() prints one line, `BENCH_RESULT {json}`, that tests/bench/wrk.py reads.
--
-- wrk gives a script no per-connection hook, so the lifecycle mode keeps one FIFO of
-- nextUris per thread: each answer frees a connection and queues at most one nextUri,
-- and the freed connection's next request takes the oldest one (a new POST when the
-- queue is empty). Every query is followed to its end; which connection sends a page
-- does not matter to the router (the token in the path decides).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Counted per thread (globals, so done() can read them with thread:get).
lifecycles = 0
pinned = 0
unpinned = 0
bad_status = 0

local client_headers = {
  ["X-Trino-User"] = "bench",
  ["X-Trino-Source"] = "trino-bench",
  ["X-Trino-Catalog"] = "hive",
  ["X-Trino-Schema"] = "web",
}

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local text = f:read("*a")
  f:close()
  return text
end

local queue, first, last = {}, 1, 0
local post_request, marker

local function lifecycle_request()
  if first <= last then
    local path = queue[first]
    queue[first] = nil
    first = first + 1
    return wrk.format("GET", path, client_headers)
  end
  return post_request
end

local function lifecycle_response(status, headers, body)
  if status ~= 200 then
    -- wrk counts >= 400 itself (summary.errors.status); this adds the other non-200s.
    -- Either way the query is dropped and the next free connection starts a new one.
    if status < 400 then
      bad_status = bad_status + 1
    end
    return
  end
  local uri = body:match('"nextUri":"([^"]+)"')
  if not uri then
    lifecycles = lifecycles + 1
    return
  end
  local path = uri:match("^https?://[^/]+(/.*)$") or uri
  if marker and path:sub(1, #marker) == marker then
    pinned = pinned + 1
  else
    unpinned = unpinned + 1
  end
  last = last + 1
  queue[last] = path
end

function init(args)
  local mode = args[1]
  for name, value in pairs(client_headers) do
    wrk.headers[name] = value
  end
  if mode == "get" then
    wrk.method = "GET"
  elseif mode == "post" then
    wrk.method = "POST"
    wrk.path = "/v1/statement"
    wrk.body = read_file(args[2])
    wrk.headers["Content-Type"] = "text/plain; charset=utf-8"
  elseif mode == "lifecycle" then
    local post_headers = { ["Content-Type"] = "text/plain; charset=utf-8" }
    for name, value in pairs(client_headers) do
      post_headers[name] = value
    end
    post_request = wrk.format("POST", "/v1/statement", post_headers, read_file(args[2]))
    if args[3] and args[3] ~= "-" then
      marker = args[3]
    end
    request = lifecycle_request
    response = lifecycle_response
    return
  else
    error("unknown mode " .. tostring(mode) .. ": use get, post or lifecycle")
  end
  -- Static requests: wrk formats them once, and skips reading bodies into Lua.
  request = nil
  response = nil
end

function done(summary, latency, requests)
  local totals = { lifecycles = 0, pinned = 0, unpinned = 0, bad_status = 0 }
  for _, thread in ipairs(threads) do
    for name in pairs(totals) do
      totals[name] = totals[name] + (tonumber(thread:get(name)) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d},'
      .. '"lifecycles":%d,"pinned":%d,"unpinned":%d,"bad_status":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    totals.lifecycles, totals.pinned, totals.unpinned, totals.bad_status))
end
