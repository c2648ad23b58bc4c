-- wrk script for every read workload: POSTs a GraphQL body and counts the
-- responses that are not a clean 200 with data (an error is not a result).
--
--   BENCH_BODY_FILE    JSON request body; every %ID% is replaced per request
--                      (bench/nested_page.lua sets W1 as the default)
--   BENCH_IDS_FILE     optional: one id per line, picked at random per request
--   BENCH_TOKENS_FILE  optional: one bearer token per line, picked at random
--                      (the id and the token on the same line number go
--                      together when both files are given)
--   BENCH_TOKEN        the bearer token when there is no tokens file
--
-- done() prints one line: requests, req/s, p50/p95/p99 (ms) and errors.
local function lines(path)
  local out = {}
  if path and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then table.insert(out, line) end
    end
  end
  return out
end

local function slurp(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return (s:gsub("%s+$", ""))
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  errors = 0
  body = slurp(os.getenv("BENCH_BODY_FILE") or BENCH_DEFAULT_BODY_FILE)
  ids = lines(os.getenv("BENCH_IDS_FILE"))
  tokens = lines(os.getenv("BENCH_TOKENS_FILE"))
  headers = { ["Content-Type"] = "application/json" }
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  math.randomseed(os.time() + (tonumber(tostring(args):match("0x(%x+)") or "0", 16) % 100000))
end

function request()
  local n = #ids > 0 and #ids or #tokens
  local i = n > 0 and math.random(n) or 0
  local b = body
  if #ids > 0 then b = b:gsub("%%ID%%", ids[i]) end
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[((i - 1) % #tokens) + 1] end
  return wrk.format("POST", nil, headers, b)
end

function response(status, hdrs, resp)
  if status ~= 200 or string.find(resp, '"errors"', 1, true) or not string.find(resp, '"data"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50=%.2f p95=%.2f p99=%.2f errors=%d socket_errors=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errs, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
