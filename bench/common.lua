-- Shared by the wrk scripts, loaded with dofile from the script's folder:
-- setup numbers the threads (global id in each), response counts answers
-- by status (the global table status that init makes in each thread), and
-- done prints one BENCH line with the totals of all threads.
local threads = {}

function setup(thread)
	thread:set("id", #threads)
	table.insert(threads, thread)
end

function response(code, headers, resp_body)
	status[code] = (status[code] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		for code, count in pairs(t:get("status")) do
			total[code] = (total[code] or 0) + count
		end
	end
	local parts = {}
	for code, count in pairs(total) do
		parts[#parts + 1] = code .. "=" .. count
	end
	io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d status=%s\n",
	    summary.requests, summary.duration, latency:percentile(50),
	    latency:percentile(99),
	    summary.errors.connect + summary.errors.read + summary.errors.write +
	    summary.errors.timeout, table.concat(parts, ",")))
end
