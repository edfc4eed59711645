-- wrk script for bench/intake.py: every request is a new report (unique Idempotency-Key,
-- new phone number, new place), so each opens a new incident.
local counter = 0
local prefix = tostring(math.random(1, 1e9))

request = function()
  counter = counter + 1
  local n = counter
  local lat = 24.97 + (n % 997) * 0.00014
  local lon = 102.63 + (n % 991) * 0.00016
  local body = string.format(
    '{"sender":{"kind":"phone","id":"139%08d"},"text":"基准测试：有人报警称家中被盗",' ..
    '"location":{"lat":%.6f,"lon":%.6f,"accuracy_m":30}}', n % 100000000, lat, lon)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. prefix .. "-" .. n,
  }
  return wrk.format("POST", "/api/v1/reports", headers, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout
  io.write(string.format("WRK %d %d %.6f %.3f %.3f\n", summary.requests, errors,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
