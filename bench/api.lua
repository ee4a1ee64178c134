-- wrk script of the api benchmark: bench/api.py runs
--   wrk ... -s bench/api.lua URL -- MODE IDS_FILE TOKEN PAUSE_MS
-- MODE: hello | healthz | get_account | list | contact_check | interaction. Each thread walks the
-- account ids of IDS_FILE from its own offset; done() prints one JSON line for api.py.
-- PAUSE_MS, optional: each connection waits that long before each request (a smoke run's
-- light load, which leaves the machine's cores to the rest of the run).

local threads = {}
local counter = 0
local ids = {}
local mode = "hello"
local headers = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "hello"
  if args[2] and args[2] ~= "" and args[2] ~= "-" then
    for line in io.lines(args[2]) do
      if line ~= "" then ids[#ids + 1] = line end
    end
  end
  if args[3] then
    headers["Authorization"] = "Bearer " .. args[3]
  end
  headers["Content-Type"] = "application/json"
  counter = (tid or 1) * 7919
  local pause = tonumber(args[4] or "")
  if pause and pause > 0 then
    delay = function() return pause end
  end
end

local CHECK = '{"channel":"call","party":"debtor"}'
-- The debtor calls in and talks: an inbound right-party contact with its PCR. The contact
-- law governs the contacts the agency makes, so this is legal at any hour and however many
-- times the run hits one account; the rest of the write (visibility, the debtor's lock, the
-- whole contact context, the row, the result's effects) is the same as an outbound one.
local INTERACTION = '{"channel":"call","direction":"inbound","party":"debtor",'
  .. '"result_code":"RPC","started_at":"%s","pcr":{"problem_category":"reduced_income",'
  .. '"problem":"Hours cut at work","circumstance":"Lives with parents",'
  .. '"resolution":"Calls back on payday"}}'

function request()
  counter = counter + 1
  if mode == "hello" then
    return wrk.format("GET", "/")
  elseif mode == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif mode == "list" then
    return wrk.format("GET", "/api/v1/accounts?limit=50", headers)
  end
  local id = ids[(counter % #ids) + 1]
  if mode == "get_account" then
    return wrk.format("GET", "/api/v1/accounts/" .. id, headers)
  elseif mode == "contact_check" then
    return wrk.format("POST", "/api/v1/accounts/" .. id .. "/contact-check", headers, CHECK)
  elseif mode == "interaction" then
    local body = string.format(INTERACTION, os.date("!%Y-%m-%dT%H:%M:%SZ"))
    return wrk.format("POST", "/api/v1/accounts/" .. id .. "/interactions", headers, body)
  end
  error("unknown mode " .. mode)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"non_2xx_3xx":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
