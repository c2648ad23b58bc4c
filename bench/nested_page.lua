-- wrk script: POST the nested page of 50 orders with a bearer token.
-- Counts responses that carry GraphQL errors, so a fast error is not a result.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
wrk.body = [[{"query":"{ orders(first: 50) { edges { node { orderNumber buyer { displayName } items { name } payment { status amount ledgerEntries { amount } } assignments { status agent { agentCode user { displayName } } } } } } }"}]]
-- BENCH_BODY replaces the request body, for calibration runs.
if os.getenv("BENCH_BODY") then
  wrk.body = os.getenv("BENCH_BODY")
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  graphql_errors = 0
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local errors = 0
  for _, t in ipairs(threads) do
    errors = errors + t:get("graphql_errors")
  end
  io.write(string.format("graphql_errors=%d\n", errors))
end
