-- wrk script for the sign-in runs of `npm run bench:peers`: every request a POST of the next JSON body of
-- WRK_BODIES (one a line; several users, so no one account sees all the connections at once); at the end, one
-- "status <code>: <count>" line per status seen, over all threads.
local bodies = {}
for body in string.gmatch(os.getenv("WRK_BODIES"), "[^\n]+") do
  table.insert(bodies, body)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local next_body = 0
function init(args)
  statuses = {}
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      all[status] = (all[status] or 0) + count
    end
  end
  for status, count in pairs(all) do
    io.write(string.format("status %d: %d\n", status, count))
  end
end
